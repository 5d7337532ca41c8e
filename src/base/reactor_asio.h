// Access to the Asio io_context behind a Reactor, for the few translation units
// that speak Asio directly (http/). Everything else uses reactor.h only.
#pragma once

#include <boost/asio/io_context.hpp>

#include "base/reactor.h"

namespace nimbus {

boost::asio::io_context& AsioContext(Reactor& reactor);

}  // namespace nimbus
