/**
 * One JSON request to a node, every failure a TreatyError with the code the SDK's `Client` gives
 * it: no answer `Unavailable` (`Timeout` past the fetch's deadline), an answer that is not JSON
 * `MalformedEncoding`, an error answer its own code and details (`Internal` when a non-2xx answer
 * has no error body). `submitRecoveryShare` and the CLI's remote commands (`fetchJson`) use it;
 * `Client` has its own loop (msgpack, retries over nodes).
 */
import { type ErrorBody, noAnswerError, TreatyError } from "./errors.js";

export interface JsonExchangeOptions {
  /**
   * The error of a request whose fetch threw `err` (default `noAnswerError(node, err)`). The CLI
   * passes its own: its only abort is its `--timeout` deadline, so an AbortError is a timeout too.
   */
  readonly noAnswer?: (err: unknown) => TreatyError;
}

/** A request of `exchangeJson`: a GET when `method` is omitted. */
export interface JsonRequest {
  readonly method?: string;
  readonly body?: Uint8Array;
  readonly headers?: Readonly<Record<string, string>>;
}

/** Sends `request` to `node + path` through `fetchImpl` and answers the JSON body of a 2xx answer. */
export async function exchangeJson<T>(
  fetchImpl: typeof fetch,
  node: string,
  path: string,
  request: JsonRequest = {},
  options: JsonExchangeOptions = {},
): Promise<T> {
  let response: Response;
  let text: string;
  try {
    response = await fetchImpl(node + path, {
      ...(request.method !== undefined && { method: request.method }),
      ...(request.body !== undefined && { body: request.body as Uint8Array<ArrayBuffer> }),
      headers: { accept: "application/json", ...request.headers },
    });
    text = await response.text();
  } catch (err) {
    throw options.noAnswer?.(err) ?? noAnswerError(node, err);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new TreatyError("MalformedEncoding", `${node}${path} (HTTP ${response.status}): not valid JSON`);
  }
  if (response.ok) return body as T;
  const error = (body as Partial<ErrorBody> | null)?.error;
  throw new TreatyError(
    typeof error?.code === "string" ? error.code : "Internal",
    typeof error?.message === "string" ? error.message : `HTTP ${response.status}`,
    error?.details,
  );
}
