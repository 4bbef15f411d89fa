// faas local runtime for Node.js: a Lambda Runtime API client.
// Loads the handler named by _HANDLER from LAMBDA_TASK_ROOT (CommonJS or ES module), then
// loops: fetch an event, call handler(event, context[, callback]) — async, promise or
// callback style — and post the JSON result or the error in Lambda's shape.
'use strict';
const http = require('http');
const path = require('path');
const fs = require('fs');
const { pathToFileURL } = require('url');

const [HOST, PORT] = (() => {
  const api = process.env.AWS_LAMBDA_RUNTIME_API;
  const i = api.lastIndexOf(':');
  return [api.slice(0, i), Number(api.slice(i + 1))];
})();
const BASE = '/2018-06-01/runtime';

function call(method, p, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port: PORT, method, path: BASE + p, headers: headers || {} }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function errorPayload(err, type, message) {
  const e = err instanceof Error ? err : new Error(String(err));
  return {
    errorType: type || e.name || 'Error',
    errorMessage: message !== undefined ? message : e.message,
    trace: (e.stack || '').split('\n'),
  };
}

async function postError(p, payload) {
  await call('POST', p, JSON.stringify(payload), {
    'Content-Type': 'application/json',
    'Lambda-Runtime-Function-Error-Type': payload.errorType,
  });
}

async function initFailed(payload) {
  console.error(`[ERROR] ${payload.errorType}: ${payload.errorMessage}`);
  await postError('/init/error', payload);
  process.exit(1);
}

async function loadHandler() {
  const handler = process.env._HANDLER || '';
  const root = process.env.LAMBDA_TASK_ROOT || process.cwd();
  const dot = handler.lastIndexOf('.');
  if (dot <= 0) {
    return initFailed({ errorType: 'Runtime.MalformedHandlerName', errorMessage: `Bad handler ${handler}`, trace: [] });
  }
  const modulePath = handler.slice(0, dot);
  const fnName = handler.slice(dot + 1);
  let file = null;
  for (const ext of ['.js', '.mjs', '.cjs']) {
    const f = path.resolve(root, modulePath + ext);
    if (fs.existsSync(f)) { file = f; break; }
  }
  if (!file) {
    return initFailed({ errorType: 'Runtime.ImportModuleError', errorMessage: `Error: Cannot find module '${modulePath}'`, trace: [] });
  }
  let mod;
  try {
    mod = file.endsWith('.mjs') ? await import(pathToFileURL(file).href) : require(file);
  } catch (e) {
    const type = e instanceof SyntaxError ? 'Runtime.UserCodeSyntaxError' : 'Runtime.ImportModuleError';
    return initFailed(errorPayload(e, type, `${e.name}: ${e.message}`));
  }
  const fn = mod[fnName] || (mod.default && mod.default[fnName]);
  if (typeof fn !== 'function') {
    return initFailed({ errorType: 'Runtime.HandlerNotFound', errorMessage: `${handler} is undefined or not exported`, trace: [] });
  }
  return fn;
}

function invokeHandler(fn, event, context) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (err, value) => {
      if (settled) return;
      settled = true;
      if (err) reject(err); else resolve(value);
    };
    try {
      const ret = fn(event, context, done);
      if (ret && typeof ret.then === 'function') ret.then((v) => done(null, v), (e) => done(e));
      else if (fn.length < 3) done(null, ret);
    } catch (e) {
      done(e);
    }
  });
}

async function main() {
  const fn = await loadHandler();
  for (;;) {
    const next = await call('GET', '/invocation/next');
    const requestId = next.headers['lambda-runtime-aws-request-id'];
    const deadline = Number(next.headers['lambda-runtime-deadline-ms'] || 0);
    const context = {
      awsRequestId: requestId,
      invokedFunctionArn: next.headers['lambda-runtime-invoked-function-arn'],
      functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
      memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
      callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    };
    const clientContext = next.headers['lambda-runtime-client-context'];
    if (clientContext) context.clientContext = JSON.parse(clientContext);
    const p = `/invocation/${requestId}`;
    let result;
    try {
      const body = next.body.length ? JSON.parse(next.body.toString('utf8')) : {};
      result = await invokeHandler(fn, body, context);
    } catch (e) {
      const payload = errorPayload(e);
      console.error(`${new Date().toISOString()}\t${requestId}\tERROR\tInvoke Error \t${JSON.stringify(payload)}`);
      await postError(`${p}/error`, payload);
      continue;
    }
    let out;
    try {
      out = JSON.stringify(result === undefined ? null : result);
    } catch (e) {
      await postError(`${p}/error`, errorPayload(e, 'Runtime.MarshalError', `Unable to stringify response body: ${e.message}`));
      continue;
    }
    await call('POST', `${p}/response`, out, { 'Content-Type': 'application/json' });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
