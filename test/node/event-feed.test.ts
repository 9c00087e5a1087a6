/**
 * The committed event feed (node/events/feed.ts) over a real in-memory ledger: commit order,
 * positions and cursors, a ring that drops whole transactions, reads below the ring from the
 * ledger in bounded scans, filters that still move the cursor, and entries without events.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { utf8 } from "../../sdk/bytes.js";
import type { MapWrites } from "../../runtime/kv/types.js";
import { Ledger } from "../../runtime/ledger/ledger.js";
import { MemoryLedgerStore } from "../../runtime/ledger/store.js";
import { type EventCursor, EventFeed, WHOLE_TX } from "../../node/events/feed.js";
import { EVENTS_MAP, eventsOfEntry } from "../../node/events/record.js";

const META = { timeMs: 1, contract: "c", method: "m", callerId: null };

function append(ledger: Ledger, names: readonly string[], contract = "c"): void {
  const writeSet =
    names.length === 0
      ? {
          public: [{ map: "public:c.x", writes: [[utf8.encode("k"), utf8.encode("v")] as const] }],
          private: [],
        }
      : {
          public: [
            {
              map: EVENTS_MAP,
              writes: [
                [
                  utf8.encode("last"),
                  utf8.encode(
                    JSON.stringify({ contract, events: names.map((name) => ({ name, data: { name } })) }),
                  ),
                ] as const,
              ],
            },
          ],
          private: [],
        };
  ledger.appendTransaction(1, { kind: "user", writeSet, meta: META });
}

const ids = (events: readonly { seqno: number; index: number }[]) =>
  events.map((e) => `${e.seqno}/${e.index}`);

describe("event feed", () => {
  it("serves commit order from the ring and, below it, from the ledger in bounded scans", () => {
    const ledger = Ledger.open({ store: new MemoryLedgerStore() });
    append(ledger, ["a"]); // 1
    append(ledger, []); // 2
    append(ledger, ["b0", "b1"]); // 3
    append(ledger, ["c"]); // 4
    append(ledger, ["d"]); // 5
    const feed = new EventFeed({ ledger, ringEvents: 2, warmEntries: 1, scanEntries: 2 });
    feed.onCommit(5);
    assert.equal(feed.committedSeqno, 5);

    const start: EventCursor = { seqno: 0, index: WHOLE_TX };
    let read = feed.read(start, 10);
    assert.deepEqual(ids(read.events), ["1/0"], "a scan covers at most scanEntries entries");
    assert.deepEqual(read.cursor, { seqno: 2, index: WHOLE_TX });
    read = feed.read(read.cursor, 2);
    assert.deepEqual(ids(read.events), ["3/0", "3/1"]);
    assert.deepEqual(
      read.cursor,
      { seqno: 3, index: 1 },
      "stopping mid-transaction keeps the event position",
    );
    read = feed.read(read.cursor, 10);
    assert.deepEqual(ids(read.events), ["4/0"]);
    read = feed.read(read.cursor, 10);
    assert.deepEqual(ids(read.events), ["5/0"], "the warm ring holds the newest entries");
    assert.deepEqual(read.cursor, { seqno: 5, index: WHOLE_TX });
    assert.deepEqual(feed.read(read.cursor, 10).events, [], "nothing after the commit point");
    assert.equal(read.events[0]!.txid, "1.5");
    assert.deepEqual(read.events[0]!.data, { name: "d" });

    // A resume inside a transaction gives the rest of it.
    assert.deepEqual(ids(feed.read({ seqno: 3, index: 0 }, 10).events), ["3/1", "4/0"]);
  });

  it("drops whole transactions from the ring and still serves them from the ledger", () => {
    const ledger = Ledger.open({ store: new MemoryLedgerStore() });
    append(ledger, ["a"]); // 1
    const feed = new EventFeed({ ledger, ringEvents: 2, warmEntries: 10 });
    feed.onCommit(1);
    append(ledger, ["b0", "b1"]); // 2
    append(ledger, ["c"]); // 3
    let wokeUp = false;
    void feed.wait(60_000).then(() => {
      wokeUp = true;
    });
    const seen: string[] = [];
    feed.onEvents = (events) => seen.push(...ids(events));
    feed.onCommit(3);
    assert.deepEqual(seen, ["2/0", "2/1", "3/0"], "listeners get each commit's new events in order");
    let all: string[] = [];
    let cursor: EventCursor = { seqno: 0, index: WHOLE_TX };
    for (let i = 0; i < 10; i++) {
      const read = feed.read(cursor, 10);
      all = all.concat(ids(read.events));
      cursor = read.cursor;
    }
    assert.deepEqual(all, ["1/0", "2/0", "2/1", "3/0"]);
    return Promise.resolve().then(() => assert.ok(wokeUp, "a commit wakes waiting readers"));
  });

  it("filters by contract and name while the cursor moves past what it skips", () => {
    const ledger = Ledger.open({ store: new MemoryLedgerStore() });
    append(ledger, ["x"], "one");
    append(ledger, ["y", "x"], "two");
    append(ledger, ["x"], "two");
    const feed = new EventFeed({ ledger });
    feed.onCommit(3);
    const start: EventCursor = { seqno: 0, index: WHOLE_TX };
    assert.deepEqual(ids(feed.read(start, 10, { contract: "two", names: ["x"] }).events), ["2/1", "3/0"]);
    const none = feed.read(start, 10, { contract: "three" });
    assert.deepEqual(none.events, []);
    assert.deepEqual(none.cursor, { seqno: 3, index: WHOLE_TX });
  });

  it("forgets readers whose wait timed out, so an idle service's pollers hold nothing", async () => {
    const ledger = Ledger.open({ store: new MemoryLedgerStore() });
    append(ledger, ["a"]);
    const feed = new EventFeed({ ledger });
    feed.onCommit(1);
    // An export loop or a stream heartbeat on a service that commits nothing for a while.
    for (let i = 0; i < 200; i++) await Promise.all([feed.wait(1), feed.wait(1)]);
    assert.equal(feed.waiting, 0);
    // A commit still wakes whoever waits then, at once.
    const woken = feed.wait(60_000);
    assert.equal(feed.waiting, 1);
    append(ledger, ["b"]);
    feed.onCommit(2);
    await woken;
    assert.equal(feed.waiting, 0);
  });

  it("reads an entry's events alike from its decoded public writes and from its bytes", () => {
    const ledger = Ledger.open({ store: new MemoryLedgerStore() });
    append(ledger, ["a", "b"]); // 1
    append(ledger, []); // 2
    for (const seqno of [1, 2]) {
      const record = ledger.get(seqno)!;
      const fromBytes = eventsOfEntry(record.bytes, seqno, record.view);
      const fromWrites = eventsOfEntry(record.bytes, seqno, record.view, ledger.publicWritesAt(seqno));
      assert.deepEqual(fromWrites, fromBytes, `entry ${seqno}`);
    }
    assert.deepEqual(ids(eventsOfEntry(ledger.get(1)!.bytes, 1, 1, ledger.publicWritesAt(1))), [
      "1/0",
      "1/1",
    ]);
    // Either way an entry without events gives the one shared empty array, frozen.
    const none = eventsOfEntry(ledger.get(2)!.bytes, 2, 1);
    assert.equal(none, eventsOfEntry(ledger.get(2)!.bytes, 2, 1, ledger.publicWritesAt(2)));
    assert.ok(Object.isFrozen(none) && none.length === 0);
    // A malformed record is LedgerCorrupt on either path.
    const bad = [{ map: EVENTS_MAP, writes: [[utf8.encode("last"), utf8.encode("not json")] as const] }];
    assert.throws(() => eventsOfEntry(ledger.get(2)!.bytes, 2, 1, bad), { code: "LedgerCorrupt" });
  });

  it("reads by bytes what the public writes hold, whatever else in the entry holds the map's name", () => {
    const ledger = Ledger.open({ store: new MemoryLedgerStore() });
    const appendWrites = (pub: MapWrites[]) =>
      ledger.appendTransaction(1, { kind: "user", writeSet: { public: pub, private: [] }, meta: META }).seqno;
    const last = (contract: string) =>
      utf8.encode(JSON.stringify({ contract, events: [{ name: "e", data: null }] }));
    // The map's name as another map's key and value: a false hit of the search, no events.
    const lookalike = appendWrites([
      { map: "public:c.x", writes: [[utf8.encode(EVENTS_MAP), utf8.encode(EVENTS_MAP)]] },
    ]);
    // The name split between a key's end and the value after it: no hit.
    const split = appendWrites([
      { map: "public:c.x", writes: [[utf8.encode("public:treaty"), utf8.encode(".events")]] },
    ]);
    // The events map after another public map, its value the entry's last public bytes.
    const atEnd = appendWrites([
      { map: "public:a", writes: [[utf8.encode("k"), null]] },
      { map: EVENTS_MAP, writes: [[utf8.encode("last"), last("end")]] },
    ]);
    // Its value deleted (nil): no events.
    const deleted = appendWrites([{ map: EVENTS_MAP, writes: [[utf8.encode("last"), null]] }]);
    // An entry that writes nothing.
    const empty = appendWrites([]);
    for (const seqno of [lookalike, split, atEnd, deleted, empty]) {
      const record = ledger.get(seqno)!;
      assert.deepEqual(
        eventsOfEntry(record.bytes, seqno, 1),
        eventsOfEntry(record.bytes, seqno, 1, ledger.publicWritesAt(seqno)),
        `entry ${seqno}`,
      );
    }
    assert.deepEqual(ids(eventsOfEntry(ledger.get(atEnd)!.bytes, atEnd, 1)), [`${atEnd}/0`]);
    for (const seqno of [lookalike, split, deleted, empty])
      assert.equal(eventsOfEntry(ledger.get(seqno)!.bytes, seqno, 1).length, 0, `entry ${seqno}`);
  });
});
