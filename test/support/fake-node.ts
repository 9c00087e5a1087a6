/**
 * A scripted fake node for SDK and CLI tests that check what goes on the wire: a `fetch` that
 * records every request and answers it with a route. The real node is exercised elsewhere.
 */

/** One request as the fake node received it. */
export interface SentRequest {
  readonly method: string;
  /** Path and query. */
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: Uint8Array | undefined;
}

/** The answer to one request: `text` as is, else `json` (a string too when `contentType` is not JSON). */
export interface FakeAnswer {
  readonly status?: number;
  readonly text?: string;
  readonly json?: unknown;
  readonly contentType?: string;
}

/** A `fetch` answering each request with `route`; `sent` lists the requests in order. */
export function fakeFetch(route: (sent: SentRequest) => FakeAnswer): {
  fetch: typeof fetch;
  sent: SentRequest[];
} {
  const sent: SentRequest[] = [];
  const answer = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    const request: SentRequest = {
      method: init?.method ?? "GET",
      path: url.pathname + url.search,
      headers: { ...(init?.headers as Record<string, string> | undefined) },
      body: init?.body === undefined ? undefined : (init.body as Uint8Array),
    };
    sent.push(request);
    const { status = 200, text, json, contentType = "application/json" } = route(request);
    const body =
      text ?? (typeof json === "string" && contentType !== "application/json" ? json : JSON.stringify(json));
    return new Response(body, { status, headers: { "content-type": contentType } });
  }) as typeof globalThis.fetch;
  return { fetch: answer, sent };
}
