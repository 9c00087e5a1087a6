/**
 * A linearizability checker for histories of single-key registers (Wing & Gong's search with
 * Lowe's memoization, the algorithm of Knossos and Porcupine), plus the ledger-specific checks
 * of a recorded history (`checkHistory`). Pure: no I/O, no clock.
 *
 * `checkRegister` decides whether some total order of the operations, consistent with real time
 * (an operation that completed before another was invoked comes first), is a legal sequential
 * history of a register that starts absent (`null`): every read returns the last value written
 * before it. A write whose outcome is unknown has `completeMs: Infinity`: it may take effect at
 * any point after its invocation, or never (it can always be placed last, after every read).
 *
 * The search walks the history's call and return events in time order and tries to linearize
 * each pending operation at its call; reaching the return of one it could not place means
 * backtracking. A cache of (set of linearized operations, register value) prunes states already
 * explored, which keeps realistic histories (few concurrent operations per key) near linear.
 */

/** One operation on one register. Values must be unique per write (they identify the write). */
export interface RegisterOp {
  readonly kind: "write" | "read";
  /** The value written, or the value a read returned (`null`: absent). */
  readonly value: string | null;
  readonly invokeMs: number;
  /** When the caller learned the outcome; `Infinity` for a write that may or may not happen. */
  readonly completeMs: number;
  /** Shown in failure messages. */
  readonly label?: string;
}

export type RegisterVerdict =
  | { readonly ok: true }
  | { readonly ok: false; readonly message: string }
  /** The search gave up after `maxSteps` (inconclusive, reported as a failure by callers). */
  | { readonly ok: "unknown"; readonly message: string };

interface Event {
  readonly op: number;
  readonly call: boolean;
  readonly timeMs: number;
  prev: Event | null;
  next: Event | null;
  /** The call's return event (calls only). */
  match: Event | null;
}

/** See the module comment. `maxSteps` bounds the search (default 2 million steps). */
export function checkRegister(ops: readonly RegisterOp[], maxSteps = 2_000_000): RegisterVerdict {
  for (const op of ops) {
    if (!(op.completeMs >= op.invokeMs)) {
      throw new RangeError(`${describe(op)}: completes before it is invoked`);
    }
    if (op.kind === "read" && op.completeMs === Number.POSITIVE_INFINITY) {
      throw new RangeError(`${describe(op)}: a read with no answer says nothing; leave it out`);
    }
  }
  const head = buildEvents(ops);
  const linearized = new Uint32Array(Math.ceil(ops.length / 32) + 1);
  const seen = new Set<string>();
  const stack: { readonly call: Event; readonly state: string | null }[] = [];
  let state: string | null = null;
  let entry: Event | null = head.next;
  let deepest = 0;
  let stuckAt = -1;
  for (let steps = 0; head.next !== null; steps++) {
    if (steps > maxSteps) {
      return { ok: "unknown", message: `search gave up after ${maxSteps} steps (${ops.length} operations)` };
    }
    if (entry?.call) {
      const op = ops[entry.op]!;
      const legal = op.kind === "write" || op.value === state;
      if (legal) {
        const next: string | null = op.kind === "write" ? op.value : state;
        setBit(linearized, entry.op, true);
        const key = `${linearized.join(",")}|${next ?? "\u0000"}`;
        if (!seen.has(key)) {
          seen.add(key);
          stack.push({ call: entry, state });
          state = next;
          lift(entry);
          if (stack.length > deepest) deepest = stack.length;
          entry = head.next;
          continue;
        }
        setBit(linearized, entry.op, false);
      }
      entry = entry.next;
    } else {
      // An operation returned before we could place it: undo the last choice. (Past the last
      // event with operations left cannot happen: every call has its return after it.)
      if (entry === null) throw new Error("checkRegister: walked past the last event");
      if (stack.length === deepest) stuckAt = entry.op;
      const top = stack.pop();
      if (top === undefined) {
        const op = ops[stuckAt >= 0 ? stuckAt : entry.op]!;
        return {
          ok: false,
          message: `not linearizable: no order places ${describe(op)} (at most ${deepest} of ${ops.length} operations ordered)`,
        };
      }
      unlift(top.call);
      setBit(linearized, top.call.op, false);
      state = top.state;
      entry = top.call.next;
    }
  }
  return { ok: true };
}

function describe(op: RegisterOp): string {
  const what =
    op.kind === "write" ? `write ${JSON.stringify(op.value)}` : `read → ${JSON.stringify(op.value)}`;
  const until = op.completeMs === Number.POSITIVE_INFINITY ? "?" : String(op.completeMs);
  return `${op.label ?? what} [${op.invokeMs}, ${until}]`;
}

/** A doubly linked list of call and return events in time order, behind a sentinel head. */
function buildEvents(ops: readonly RegisterOp[]): Event {
  const events: Event[] = [];
  ops.forEach((op, i) => {
    const call: Event = { op: i, call: true, timeMs: op.invokeMs, prev: null, next: null, match: null };
    const ret: Event = { op: i, call: false, timeMs: op.completeMs, prev: null, next: null, match: null };
    call.match = ret;
    events.push(call, ret);
  });
  // Calls before returns at equal times: operations that touch in time count as concurrent.
  events.sort((a, b) => a.timeMs - b.timeMs || Number(b.call) - Number(a.call));
  const head: Event = {
    op: -1,
    call: false,
    timeMs: Number.NEGATIVE_INFINITY,
    prev: null,
    next: null,
    match: null,
  };
  let last = head;
  for (const event of events) {
    last.next = event;
    event.prev = last;
    last = event;
  }
  return head;
}

/** Removes a call and its return from the list (their own links are kept for `unlift`). */
function lift(call: Event): void {
  call.prev!.next = call.next;
  if (call.next !== null) call.next.prev = call.prev;
  const ret = call.match!;
  ret.prev!.next = ret.next;
  if (ret.next !== null) ret.next.prev = ret.prev;
}

/** Puts back what `lift` removed (in reverse order of lifting). */
function unlift(call: Event): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next !== null) ret.next.prev = ret;
  call.prev!.next = call;
  if (call.next !== null) call.next.prev = call;
}

function setBit(bits: Uint32Array, index: number, on: boolean): void {
  const word = index >>> 5;
  const mask = 1 << (index & 31);
  bits[word] = on ? bits[word]! | mask : bits[word]! & ~mask;
}

// ---------------------------------------------------------------- recorded histories

/** A write as a client recorded it. */
export interface WriteRecord {
  readonly kind: "write";
  readonly key: string;
  /** Unique across the history. */
  readonly value: string;
  readonly invokeMs: number;
  /** When the client saw it `Committed`; `Infinity` when it never did. */
  readonly committedMs: number;
  /** The seqno of its txid, when the client learned it. */
  readonly seqno: number | null;
  /** Its status after the run (every node healed and converged), when its txid is known. */
  readonly final: "Committed" | "Invalid" | "Unknown";
}

/** A read as a client recorded it (failed reads are left out). */
export interface ReadRecord {
  readonly kind: "read";
  readonly key: string;
  readonly consistency: "committed" | "linearizable" | "latest";
  readonly value: string | null;
  readonly invokeMs: number;
  readonly completeMs: number;
  /** The seqno of the state it read (its answer's txid) and the status the node gave it. */
  readonly seqno: number;
  readonly status: string;
  /** Which node answered, for messages. */
  readonly node?: string;
}

export type HistoryRecord = WriteRecord | ReadRecord;

/** What `checkHistory` found. */
export interface HistoryReport {
  readonly violations: readonly string[];
  readonly keys: number;
  readonly writes: number;
  readonly reads: Readonly<Record<ReadRecord["consistency"], number>>;
  /** Reads whose value came from a write with an unknown txid: not checkable against seqnos. */
  readonly unverifiable: number;
}

/**
 * Checks a recorded history of a ledger-backed key-value workload, per key:
 *
 * - linearizable reads with all writes (that did not end `Invalid`) must be linearizable
 *   (`checkRegister`); a write takes effect between its invocation and the moment its client
 *   saw it committed;
 * - committed and linearizable reads read exactly the committed state their answer names: the
 *   value of the last committed write to the key at or below their seqno, answered `Committed`
 *   (so never a value that was rolled back: no dirty read, no lost write); committed reads may
 *   be stale (a follower behind the leader), which real time does not forbid them;
 * - latest reads answered `Committed` (the node's ledger ended at its commit point) are held to
 *   the committed reads' rule; answered `Pending` they may show any value some write wrote,
 *   even one later rolled back, from a branch the node has not yet truncated. Like committed
 *   reads they may be stale in real time: a lagging follower or a deposed leader that has not
 *   heard of its successor answers from what it has (docs/http.md, "Read consistency").
 */
export function checkHistory(history: readonly HistoryRecord[]): HistoryReport {
  const violations: string[] = [];
  const byKey = new Map<string, HistoryRecord[]>();
  for (const record of history) {
    const list = byKey.get(record.key);
    if (list === undefined) byKey.set(record.key, [record]);
    else list.push(record);
  }
  const reads = { committed: 0, linearizable: 0, latest: 0 };
  let writes = 0;
  let unverifiable = 0;
  for (const [key, records] of byKey) {
    const keyWrites = records.filter((r): r is WriteRecord => r.kind === "write");
    const keyReads = records.filter((r): r is ReadRecord => r.kind === "read");
    writes += keyWrites.length;
    const byValue = new Map(keyWrites.map((w) => [w.value, w]));
    const committedWrites = keyWrites
      .filter((w) => w.final === "Committed" && w.seqno !== null)
      .sort((a, b) => a.seqno! - b.seqno!);

    const verdict = checkRegister([
      ...keyWrites
        .filter((w) => w.final !== "Invalid")
        .map((w) => ({
          kind: "write" as const,
          value: w.value,
          invokeMs: w.invokeMs,
          completeMs: w.committedMs,
          label: `write ${JSON.stringify(w.value)}${w.seqno === null ? "" : ` @${w.seqno}`}`,
        })),
      ...keyReads
        .filter((r) => r.consistency === "linearizable")
        .map((r) => ({
          kind: "read" as const,
          value: r.value,
          invokeMs: r.invokeMs,
          completeMs: r.completeMs,
          label: `linearizable read → ${JSON.stringify(r.value)} @${r.seqno}${r.node ? ` on ${r.node}` : ""}`,
        })),
    ]);
    if (verdict.ok !== true) violations.push(`key ${key}: ${verdict.message}`);

    for (const read of keyReads) {
      reads[read.consistency]++;
      const source = read.value === null ? undefined : byValue.get(read.value);
      const where = `key ${key}: ${read.consistency} read → ${JSON.stringify(read.value)} @${read.seqno}${read.node ? ` on ${read.node}` : ""} [${read.invokeMs}, ${read.completeMs}]`;
      if (read.value !== null && source === undefined) {
        violations.push(`${where}: no write ever wrote that value`);
        continue;
      }
      if (source !== undefined && source.seqno === null) {
        unverifiable++;
        continue;
      }
      if (read.consistency === "latest" && read.status === "Pending") continue;
      if (read.status !== "Committed") {
        violations.push(`${where}: a ${read.consistency} read answered ${read.status}`);
      }
      let expected: WriteRecord | undefined;
      for (const w of committedWrites) if (w.seqno! <= read.seqno) expected = w;
      if (source !== expected) {
        const why =
          source !== undefined && source.final === "Invalid"
            ? `a dirty read: that write @${source.seqno} was rolled back`
            : `the committed state @${read.seqno} holds ${JSON.stringify(expected?.value ?? null)}${expected ? ` (written @${expected.seqno})` : ""}`;
        violations.push(`${where}: ${why}`);
      }
    }
  }
  return { violations, keys: byKey.size, writes, reads, unverifiable };
}
