/**
 * The benchmarks' HTTP client: plain `node:http` requests over a caller's keep-alive `Agent`
 * (no SDK in the measured path, so the numbers are the node's, not the client's).
 */
import { type Agent, request as httpRequest } from "node:http";
import type { SignedRequest } from "../sdk/request.js";

/** One HTTP request over `agent`; resolves with the status and the answer's text. */
export function send(
  agent: Agent,
  url: string,
  method: string,
  body: Uint8Array | string | undefined,
  headers: Readonly<Record<string, string>> = {},
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, agent, headers });
    req.on("response", (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        text += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** POSTs a signed call to the node at `base` (a JSON answer, the body's length up front). */
export function postSigned(
  agent: Agent,
  base: string,
  request: SignedRequest,
): Promise<{ status: number; text: string }> {
  return send(agent, base + request.path, "POST", request.body, {
    ...request.headers,
    accept: "application/json",
    "content-length": String(request.body.length),
  });
}
