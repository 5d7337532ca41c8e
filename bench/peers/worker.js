// The no-op handler as a workerd worker: reads the event, answers "ok".
export default {
  async fetch(request) {
    await request.arrayBuffer();
    return new Response('"ok"', { headers: { 'content-type': 'application/json' } });
  },
};
