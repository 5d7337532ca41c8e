# workerd config for the bench peer: one worker (worker.js) on one HTTP socket.
# bench.mjs overrides the address with --socket-addr http=127.0.0.1:PORT.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "main", worker = .noop) ],
  sockets = [ (name = "http", address = "127.0.0.1:8780", http = (), service = "main") ],
);

const noop :Workerd.Worker = (
  modules = [ (name = "worker", esModule = embed "worker.js") ],
  compatibilityDate = "2024-09-23",
);
