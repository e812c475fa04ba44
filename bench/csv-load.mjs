// Loads a large CSV and reports its speed and memory: `node bench/csv-load.mjs [FILE] [--mb 1024]`.
// Without FILE, writes (once) a CSV of about --mb megabytes to the temp folder: 20 decimal features
// and a class label per row, as a spreadsheet or pandas would export them.
import { createWriteStream, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCsv } from '../dist/data/csv.js';

const args = process.argv.slice(2);
const mbAt = args.indexOf('--mb');
const megabytes = mbAt >= 0 ? Number(args[mbAt + 1]) : 1024;
const given = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--mb');
const path = given ?? join(tmpdir(), `backprop-bench-${megabytes}mb.csv`);

async function writeCsv(file, bytes) {
  const out = createWriteStream(file);
  const features = 20;
  out.write(`${Array.from({ length: features }, (_, j) => `f${j}`).join(',')},label\n`);
  let written = 0;
  let seed = 1;
  const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  while (written < bytes) {
    let chunk = '';
    for (let r = 0; r < 2000; r++) {
      const row = Array.from({ length: features }, () => (random() * 200 - 100).toFixed(6));
      chunk += `${row.join(',')},${Math.floor(random() * 10)}\n`;
    }
    written += chunk.length;
    if (!out.write(chunk)) await new Promise((resolve) => out.once('drain', resolve));
  }
  await new Promise((resolve) => out.end(resolve));
}

if (!existsSync(path)) {
  process.stderr.write(`writing ${path}…\n`);
  await writeCsv(path, megabytes * 1024 * 1024);
}
const size = statSync(path).size;
const rssBefore = process.memoryUsage().rss;
let peak = rssBefore;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
const started = performance.now();
const data = loadCsv(path, { targetKind: 'classes' });
const seconds = (performance.now() - started) / 1000;
peak = Math.max(peak, process.memoryUsage().rss);
clearInterval(sampler);
const floatBytes = data.train.x.byteLength + data.train.labels.byteLength;
console.log(
  JSON.stringify({
    file: path,
    megabytes: +(size / 1e6).toFixed(1),
    rows: data.train.count,
    features: data.train.features,
    seconds: +seconds.toFixed(2),
    megabytesPerSecond: +(size / 1e6 / seconds).toFixed(1),
    float32Megabytes: +(floatBytes / 1e6).toFixed(1),
    // The RSS that loading added, against the float32 arrays it produced (the target is at most 1.5).
    rssGrowthMegabytes: +((peak - rssBefore) / 1e6).toFixed(1),
    memoryRatio: +((peak - rssBefore) / floatBytes).toFixed(2),
  }),
);
