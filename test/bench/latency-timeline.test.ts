/**
 * bench/latency-timeline.ts joins a latency dump with node timelines: the slow windows with the
 * events around them, per kind of event the commit latencies of the writes sent just before, and
 * each write placed by stage.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("../../bench/latency-timeline.js", import.meta.url));

describe("bench latency-timeline", () => {
  const dir = mkdtempSync(join(tmpdir(), "treaty-latency-timeline-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("lists the slow window with the event before it, and the latencies around each kind", () => {
    // Ten writes 10 ms apart; the two sent at 1,040 and 1,050 took 50 ms to commit, the rest 10.
    const rows = ["sent_ms,seqno,ack_ms,commit_ms,sent_epoch_ms"];
    for (let i = 0; i < 10; i++) {
      const commit = i === 4 || i === 5 ? 50 : 10;
      rows.push(`${i * 10},${i + 1},${commit - 2},${commit},${1000 + i * 10}`);
    }
    const dump = join(dir, "dump.csv");
    writeFileSync(dump, `${rows.join("\n")}\n`);
    const timelines = join(dir, "timelines");
    mkdirSync(timelines);
    // The leader (it has batches) paused 20 ms at 1,055; another node had a 1 ms scavenge.
    writeFileSync(
      join(timelines, "timeline-11.csv"),
      "1001.00,main,batch,1.000,3\n1055.00,main,gc-major,20.000,0\n",
    );
    writeFileSync(join(timelines, "timeline-22.csv"), "1010.00,main,gc-minor,1.000,0\n");
    writeFileSync(join(timelines, "ignored.txt"), "not a timeline\n");
    const out = execFileSync(process.execPath, [SCRIPT, dump, timelines, "--window", "20"], {
      encoding: "utf8",
    });
    assert.match(out, /^10 writes over 0\.1 s: commit p50 10\.0, p90 50\.0, p99 50\.0 ms$/m);
    assert.match(
      out,
      /^ {2}\+ {4}40 ms {4}2 writes {2}ack p50 48\.0 {2}commit p50 50\.0 max 50\.0 {2}\| leader main gc-major 20\.0@15$/m,
    );
    assert.match(out, /^ {2}all writes +10 {2}10\.0 \/ 50\.0$/m);
    assert.match(out, /^ {2}leader main gc-major +1 {2}50\.0 \/ 50\.0$/m);
    assert.doesNotMatch(out, /gc-minor/, "events under --min-ms (3) are left out");
    assert.doesNotMatch(out, /\+ +0 ms/, "windows at the run's latency are not listed");
  });

  it("splits the run around a snapshot: before the reads, while every node reads, bodies and files, after", () => {
    // Forty writes 10 ms apart from 1,000; those sent from 1,200 to 1,299 took 90 ms, the rest 10.
    const rows = ["sent_ms,seqno,ack_ms,commit_ms,sent_epoch_ms"];
    for (let i = 0; i < 40; i++) {
      const sent = 1000 + i * 10;
      const commit = sent >= 1200 && sent < 1300 ? 90 : 10;
      rows.push(`${i * 10},${i + 1},${commit - 2},${commit},${sent}`);
    }
    const dump = join(dir, "snapshot-dump.csv");
    writeFileSync(dump, `${rows.join("\n")}\n`);
    const timelines = join(dir, "snapshot-timelines");
    mkdirSync(timelines);
    // Two nodes read from 1,100 (one until 1,200, the other until 1,250), then build bodies and
    // write pending files until 1,300; the 1 ms body is under --min-ms yet still counts here.
    writeFileSync(
      join(timelines, "timeline-11.csv"),
      "1001.00,main,batch,1.000,3\n1100.00,exec,exec-snapshotRows,100.000,1\n1200.00,main,snapshot-body,1.000,20\n1201.00,main,snapshot-write-pending,99.000,20\n",
    );
    writeFileSync(
      join(timelines, "timeline-22.csv"),
      "1100.00,exec,exec-snapshotRows,150.000,1\n1250.00,main,snapshot-body,30.000,20\n",
    );
    const out = execFileSync(process.execPath, [SCRIPT, dump, timelines], { encoding: "utf8" });
    assert.match(out, /^ {2}before the reads +\+0\.\.\+100 +10 writes {2}10\.0 \/ 10\.0$/m);
    assert.match(out, /^ {2}during the reads +\+100\.\.\+200 +10 writes {2}10\.0 \/ 10\.0$/m);
    assert.match(out, /^ {2}bodies and files +\+200\.\.\+300 +10 writes {2}90\.0 \/ 90\.0$/m);
    assert.match(out, /^ {2}after +\+300\.\.\+391 +10 writes {2}10\.0 \/ 10\.0$/m);
    assert.match(out, /^ {2}without bodies and files +30 writes {2}10\.0 \/ 10\.0$/m);
  });

  it("prints no snapshot section without snapshot events", () => {
    const rows = ["sent_ms,seqno,ack_ms,commit_ms,sent_epoch_ms", "0,1,1,2,1000", "10,2,1,2,1010"];
    const dump = join(dir, "plain.csv");
    writeFileSync(dump, `${rows.join("\n")}\n`);
    const timelines = join(dir, "plain-timelines");
    mkdirSync(timelines);
    writeFileSync(join(timelines, "timeline-11.csv"), "1001.00,main,batch,1.000,3\n");
    const out = execFileSync(process.execPath, [SCRIPT, dump, timelines], { encoding: "utf8" });
    assert.doesNotMatch(out, /around each snapshot/);
  });

  it("places each write by stage from the nodes' persist events, leaving out an earlier network's file", () => {
    // Two writes (seqnos 1, 2) sent at 1,000; their batch ran 1,003-1,005, the signature (seqno
    // 3) came at 1,005.5; durable on the leader at 1,010, on the followers at 1,008 and 1,012;
    // the leader's commit reached 3 at 1,011; the client saw it at 1,013.
    const dump = join(dir, "stages.csv");
    writeFileSync(dump, "sent_ms,seqno,ack_ms,commit_ms,sent_epoch_ms\n0,1,6,13,1000\n0,2,6,13,1000\n");
    const timelines = join(dir, "stage-timelines");
    mkdirSync(timelines);
    writeFileSync(
      join(timelines, "timeline-11.csv"),
      "1003.00,main,batch,2.000,2\n1005.50,main,sign,0.000,3\n1006.00,main,persist,4.000,3\n1011.00,main,commit,0.000,3\n",
    );
    writeFileSync(join(timelines, "timeline-22.csv"), "1007.00,main,persist,1.000,3\n");
    writeFileSync(join(timelines, "timeline-33.csv"), "1007.00,main,persist,5.000,3\n");
    // A 1-node run before this one: its own batch and signature at seqno 3, long before.
    writeFileSync(join(timelines, "timeline-5.csv"), "10.00,main,batch,1.000,2\n11.00,main,sign,0.000,3\n");
    const out = execFileSync(process.execPath, [SCRIPT, dump, timelines], { encoding: "utf8" });
    // queue 3, exec 2, sign 0.5, durable 4.5 (the 2nd end: the leader's), ack 1, notice 2; the
    // leader's persist 4.5, the faster follower arrived 1.5 after the signature and took 1.
    assert.match(out, /^ {2}all: p50 +3\.0 +2\.0 +0\.5 +4\.5 +1\.0 +2\.0 +4\.5 +1\.5 +1\.0$/m);
    assert.match(out, /^ {2}the slowest writes' largest stage: durable 1$/m);
    assert.match(
      out,
      /^ {2}\+ +0 +1× +13\.0: 3\.0 \/ 2\.0 \/ 0\.5 \/ 4\.5 \/ 1\.0 \/ 2\.0 \| 4\.5 \/ 1\.5 \/ 1\.0 *$/m,
    );
  });

  it("says so when the timelines hold no persist events", () => {
    const dump = join(dir, "no-persist.csv");
    writeFileSync(dump, "sent_ms,seqno,ack_ms,commit_ms,sent_epoch_ms\n0,1,1,2,1000\n");
    const timelines = join(dir, "no-persist-timelines");
    mkdirSync(timelines);
    writeFileSync(
      join(timelines, "timeline-11.csv"),
      "1001.00,main,batch,1.000,1\n1001.50,main,sign,0.000,2\n",
    );
    const out = execFileSync(process.execPath, [SCRIPT, dump, timelines], { encoding: "utf8" });
    assert.match(out, /^no per-write stages: the timelines hold no persist events/m);
  });

  it("refuses a dump without sent_epoch_ms", () => {
    const dump = join(dir, "old.csv");
    writeFileSync(dump, "sent_ms,seqno,ack_ms,commit_ms\n0,1,1,2\n");
    assert.throws(
      () => execFileSync(process.execPath, [SCRIPT, dump, dir], { encoding: "utf8", stdio: "pipe" }),
      /no sent_epoch_ms column/,
    );
  });
});
