/**
 * Node-to-node transport: authenticated (and, where confidential, encrypted) frames between the
 * nodes of one service, over NATS (`NatsTransport`) or in process (`MemoryNetwork`). See
 * `node/transport/README.md` for the wire format, the replay rule and the key choice.
 */
export { MAX_PEERS, MAX_REMEMBERED_SENDERS } from "./channel.js";
export { FRAME_OVERHEAD_BYTES, MAX_MESSAGE_BYTES, nodeSubject } from "./frame.js";
export {
  type DropFilter,
  type FrameTap,
  MAX_QUEUED_FRAMES,
  MemoryNetwork,
  type MemoryNetworkStats,
  MemoryTransport,
} from "./memory.js";
export { NatsTransport, type NatsTransportOptions } from "./nats.js";
export * from "./types.js";
