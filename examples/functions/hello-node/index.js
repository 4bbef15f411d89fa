'use strict';
// A small HTTP-style function: greets, processes data, rejects what it does not know.
const respond = (statusCode, body) => ({ statusCode, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

exports.handler = async (event, context) => {
  const action = event.action || 'greet';
  console.log(`action=${action} request=${context.awsRequestId}`);
  if (action === 'greet') return respond(200, { message: `Hello, ${event.name || 'world'}!` });
  if (action === 'process') {
    if (typeof event.data !== 'string' || !event.data) return respond(400, { error: "process needs a non-empty string in 'data'" });
    return respond(200, { processed: event.data.toUpperCase(), length: event.data.length });
  }
  return respond(400, { error: `unknown action '${action}'` });
};
