import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Network } from '../src/model/network.js';
import { TsBackend } from '../src/backends/ts.js';
import { fit } from '../src/train/fit.js';
import { realMnist } from './helpers.js';

const root = join(__dirname, '..');
/** Debian's Chromium, which `.ci/run` installs; the test says so and skips where it is absent. */
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
};

/** The repository's files over HTTP on loopback, as any static server would give them. */
function serve(): Promise<Server> {
  const server = createServer((request, response) => {
    const path = normalize(join(root, decodeURIComponent(new URL(request.url!, 'http://x').pathname)));
    const file = path.endsWith('/') ? join(path, 'index.html') : path;
    if (!file.startsWith(root) || !existsSync(file) || !statSync(file).isFile()) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(response);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe.skipIf(!existsSync(CHROMIUM))('examples/browser in headless Chromium', () => {
  let server: Server;
  beforeAll(async () => {
    server = await serve();
  });
  afterAll(() => server?.close());

  it('trains the seed network on MNIST with the wasm and ts backends, to the weights of the ts backend in Node', async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
    });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(err.message));
      const { port } = server.address() as AddressInfo;
      await page.goto(`http://127.0.0.1:${port}/examples/browser/?samples=300&epochs=2`);
      await page.waitForFunction(() => 'backpropResult' in window, undefined, { timeout: 120_000 });
      const result = (await page.evaluate(() => (window as unknown as { backpropResult: unknown }).backpropResult)) as {
        error?: string;
        same: boolean;
        wasm: { params: number[] };
      };
      expect(errors).toEqual([]);
      expect(result.error).toBeUndefined();
      expect(result.same).toBe(true);
      const data = realMnist().train;
      const small = { ...data, x: data.x.subarray(0, 300 * 784), labels: data.labels!.subarray(0, 300), count: 300 };
      const net = new Network([784, 30, 10], { backend: new TsBackend() }).initWeights(1);
      await fit(net, small, { epochs: 2, batchSize: 10, learningRate: 0.1 });
      const fromPage = Float32Array.from(result.wasm.params);
      expect(Buffer.from(fromPage.buffer).equals(Buffer.from(net.params.buffer))).toBe(true);
      expect(await page.locator('#status').textContent()).toMatch(/weights equal, bit for bit/);
    } finally {
      await browser.close();
    }
  }, 180_000);
});
