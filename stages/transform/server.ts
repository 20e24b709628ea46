import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import pLimit, { type LimitFunction } from 'p-limit';
import { describeError, InvalidInputError } from '../../shared/errors.ts';
import type { Log } from '../../shared/logging.ts';
import { type ExecutionParameters, UNLIMITED_PAYLOAD_CAP_MB } from './execution-parameters.ts';
import { invoke, invokeImage, parseJsonLines } from './invocations.ts';
import type { ModelHandler } from './model-handler.ts';
import { RECORD_ERROR_CODES } from './record-errors.ts';

/** SageMaker counts payload megabytes in MiB. */
const MB = 1024 * 1024;
const JSON_LINES = 'application/jsonlines';
/** Content types of a raw image body: one image, one JSON prediction back. */
export const IMAGE_CONTENT_TYPES = ['image/jpeg', 'image/png', 'application/x-image'] as const;

export interface ModelServerOptions {
  /** Records decoded and predicted together. */
  readonly imagesPerBatch: number;
  /** Requests that may wait beyond the MaxConcurrentTransforms being predicted; past it, 503. @default MaxConcurrentTransforms */
  readonly maxQueuedRequests?: number;
  readonly log: Log;
}

/** Once the model is loaded: the handler and the limits the server enforces (and recommends). */
export interface ReadyState {
  readonly handler: ModelHandler;
  readonly parameters: ExecutionParameters;
}

/**
 * The SageMaker inference HTTP contract on node:http:
 * - `GET /ping`: 503 until {@link ModelServer.ready}, then 200 with an empty body.
 * - `GET /execution-parameters`: the recommended `MaxConcurrentTransforms`, `BatchStrategy`, `MaxPayloadInMB`.
 * - `POST /invocations`: JSON Lines in, one JSON line per record out (`application/jsonlines`), in order; 400
 *   naming the line when a line is not JSON; 413 past `MaxPayloadInMB`. A raw image body (`image/jpeg`,
 *   `image/png`, `application/x-image`) gets the one output object as `application/json` (400 when the image
 *   cannot be used, with the same `error` as its line would carry). At most `MaxConcurrentTransforms` requests
 *   are predicted at once; up to `maxQueuedRequests` more wait their turn, and past that a request gets 503
 *   at once rather than a time-out.
 *
 * Inference runs in the handler's worker threads ({@link InferencePool}), so this event loop stays free to answer
 * `/ping` while every worker is busy.
 */
export class ModelServer {
  private readonly server: Server;
  private readonly options: ModelServerOptions;
  private state: (ReadyState & { readonly limit: LimitFunction; readonly maxQueued: number }) | undefined;

  constructor(options: ModelServerOptions) {
    this.options = options;
    this.server = createServer((request, response) => {
      this.route(request, response).catch((error: unknown) => {
        options.log.error('request failed', { path: request.url, error: describeError(error).message });
        if (!response.headersSent)
          send(response, 500, { message: `the model server failed: ${describeError(error).message}` });
        else response.destroy();
      });
    });
    // A request may take minutes on a CPU; SageMaker's own InvocationsTimeoutInSeconds bounds it.
    this.server.requestTimeout = 0;
    // Batch Transform reuses connections between requests; closing an idle one just as the client reuses it
    // resets that request, so idle connections are kept well past Node's 5-second default.
    this.server.keepAliveTimeout = 65_000;
  }

  /** Listens and resolves the port (useful with port 0). */
  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  /** Starts answering /ping with 200 and predicting. */
  ready(state: ReadyState): void {
    this.state = {
      ...state,
      limit: pLimit(state.parameters.MaxConcurrentTransforms),
      maxQueued: this.options.maxQueuedRequests ?? state.parameters.MaxConcurrentTransforms,
    };
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '/').split('?')[0];
    const method = request.method ?? 'GET';
    const routes: Record<string, { method: string; handle: () => Promise<void> | void }> = {
      '/ping': { method: 'GET', handle: () => this.ping(response) },
      '/execution-parameters': { method: 'GET', handle: () => this.executionParameters(response) },
      '/invocations': { method: 'POST', handle: () => this.invocations(request, response) },
    };
    const route = path === undefined ? undefined : routes[path];
    if (route === undefined) {
      request.resume();
      send(response, 404, {
        message: `no route ${path}; the model server answers /ping, /execution-parameters and /invocations`,
      });
      return;
    }
    if (method !== route.method) {
      request.resume();
      response.setHeader('Allow', route.method);
      send(response, 405, { message: `${path} takes ${route.method}, not ${method}` });
      return;
    }
    await route.handle();
  }

  private ping(response: ServerResponse): void {
    if (this.state === undefined) {
      send(response, 503, { message: 'the model is loading' });
      return;
    }
    response.writeHead(200, { 'Content-Length': 0 }).end();
  }

  private executionParameters(response: ServerResponse): void {
    if (this.state === undefined) {
      send(response, 503, { message: 'the model is loading; ask again once /ping answers 200' });
      return;
    }
    send(response, 200, this.state.parameters);
  }

  private async invocations(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const state = this.state;
    if (state === undefined) {
      request.resume();
      send(response, 503, { message: 'the model is loading; retry once /ping answers 200' });
      return;
    }
    if (
      state.limit.activeCount >= state.parameters.MaxConcurrentTransforms &&
      state.limit.pendingCount >= state.maxQueued
    ) {
      request.resume();
      response.setHeader('Retry-After', '1');
      send(response, 503, {
        message:
          `the model server is busy: ${state.limit.activeCount} requests are being predicted and ` +
          `${state.limit.pendingCount} are waiting (MaxConcurrentTransforms ${state.parameters.MaxConcurrentTransforms}); retry shortly or send fewer requests at once`,
      });
      return;
    }
    const limitMB = state.parameters.MaxPayloadInMB || UNLIMITED_PAYLOAD_CAP_MB;
    const maxBytes = limitMB * MB;
    const body = await readBody(request, maxBytes);
    if (body === 'too large') {
      const limit =
        state.parameters.MaxPayloadInMB === 0
          ? `${UNLIMITED_PAYLOAD_CAP_MB} MB (= ${maxBytes} bytes), the most this server holds when MaxPayloadInMB is 0`
          : `MaxPayloadInMB (${limitMB} MB = ${maxBytes} bytes)`;
      send(response, 413, {
        message: `the request body is larger than ${limit}; send fewer records per request or raise the transform job's MaxPayloadInMB`,
      });
      return;
    }
    const contentType = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    if ((IMAGE_CONTENT_TYPES as readonly string[]).includes(contentType)) {
      await this.invokeImage(state, body, response);
      return;
    }
    let records: unknown[];
    try {
      records = parseJsonLines(body.toString('utf8'));
    } catch (error) {
      if (!(error instanceof InvalidInputError)) throw error;
      send(response, 400, { message: error.message, ...error.details });
      return;
    }
    const received = performance.now();
    const { result, inFlight, waitedMs } = await state.limit(async () => {
      const waited = performance.now() - received;
      this.options.log.debug('invocation started', { records: records.length });
      // Counted inside the limit: how many requests are being predicted now, this one included.
      const running = state.limit.activeCount;
      const options = { imagesPerBatch: this.options.imagesPerBatch, log: this.options.log };
      return { result: await invoke(records, state.handler, options), inFlight: running, waitedMs: waited };
    });
    const text = `${result.lines.join('\n')}\n`;
    response.writeHead(200, { 'Content-Type': JSON_LINES, 'Content-Length': Buffer.byteLength(text) }).end(text);
    this.options.log.info('invocation', {
      records: result.records,
      errors: result.errors,
      batches: result.batches,
      bytes: body.length,
      inFlight,
      waitedMs: Math.round(waitedMs),
      ms: Math.round(performance.now() - received),
    });
  }

  private async invokeImage(
    state: ReadyState & { readonly limit: LimitFunction },
    body: Buffer,
    response: ServerResponse,
  ) {
    const received = performance.now();
    const output = await state.limit(() => invokeImage(body, state.handler, { log: this.options.log }));
    const status =
      output.error === undefined ? 200 : output.error.code === RECORD_ERROR_CODES.inferenceFailed ? 500 : 400;
    send(response, status, output);
    this.options.log.info('invocation', {
      records: 1,
      errors: output.error === undefined ? 0 : 1,
      bytes: body.length,
      ms: Math.round(performance.now() - received),
    });
  }
}

/**
 * Reads the body up to `maxBytes`. Past it, the rest is read and dropped rather than the socket closed, so the
 * client gets the 413 instead of a reset connection in the middle of its upload.
 */
async function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer | 'too large'> {
  const declared = Number(request.headers['content-length'] ?? Number.NaN);
  let tooLarge = Number.isFinite(declared) && declared > maxBytes;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    if (tooLarge) continue;
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      tooLarge = true;
      chunks.length = 0;
      continue;
    }
    chunks.push(chunk as Buffer);
  }
  return tooLarge ? 'too large' : Buffer.concat(chunks, size);
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response
    .writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) })
    .end(text);
}
