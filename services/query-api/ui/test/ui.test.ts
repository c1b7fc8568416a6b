import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { hasShared, sharedPath } from '@tidewatch/testing';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { type SeededApi, startSeededApi } from './seed.ts';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const CAPTURE = 'testdata/labeled/ctu-malware-capture-botnet-4/conn.log.labeled';
const ARTIFACTS = fileURLToPath(new URL('../../../../artifacts/ui/', import.meta.url));
const DIST = fileURLToPath(new URL('../dist/index.html', import.meta.url));

function missing(): string | false {
  const why = !existsSync(CHROMIUM)
    ? `chromium not found at ${CHROMIUM} (scripts/system-deps.sh installs it)`
    : !hasShared()
      ? 'shared test data not found'
      : !existsSync(DIST)
        ? 'UI not built (pnpm --filter @tidewatch/ui build)'
        : false;
  if (why && process.env['CI'] === 'true') throw new Error(`UI browser test cannot run in CI: ${why}`);
  if (why) console.error(`\n!!! skipping the UI browser test: ${why} !!!\n`);
  return why;
}

const skip = missing();

describe('analyst UI in headless Chromium against a seeded query-api', { skip }, () => {
  let seeded: SeededApi;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const consoleErrors: string[] = [];
  /** The request behind each "Failed to load resource" console line, for the failure message. */
  const failedRequests: string[] = [];
  const get = async <T>(path: string): Promise<T> => {
    const res = await fetch(seeded.api.url + path, {
      headers: { authorization: `Bearer ${seeded.adminKey}` },
    });
    assert.equal(res.status, 200, `${path}: HTTP ${res.status}`);
    return (await res.json()) as T;
  };
  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: false });
  const url = (path: string) => seeded.api.url + path;

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    // The first 8,000 flows of the capture keep seeding (import → sequences → ONNX) to seconds.
    seeded = await startSeededApi(sharedPath(CAPTURE), { maxFlows: 8000 });
    assert.ok(seeded.malicious > 0 && seeded.malicious < seeded.scored, 'the capture holds both verdicts');
    profile = mkdtempSync(join(tmpdir(), 'tidewatch-chromium-'));
    // A fresh profile directory per run: nothing cached or remembered between runs.
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 800 },
      colorScheme: 'dark',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(`${page.url()}: ${m.text()}`);
    });
    page.on('response', (r) => {
      if (r.status() >= 400) failedRequests.push(`${r.request().method()} ${r.url()} → ${r.status()}`);
    });
    page.on('pageerror', (e) => consoleErrors.push(`${page.url()}: uncaught ${e.message}`));
  });

  after(async () => {
    await context?.close();
    await seeded?.stop();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('refuses a wrong key, then signs in and shows the overview counts of the store', async () => {
    await page.goto(url('/'));
    await page.fill('#api-key', 'tw_not_a_real_key_000000');
    await page.click('button[type=submit]');
    await page.getByRole('alert').filter({ hasText: 'not accepted' }).waitFor();
    // Chromium logs the refused request itself; that one error is expected, nothing else.
    assert.equal(consoleErrors.length, 1, consoleErrors.join('\n'));
    assert.match(consoleErrors[0] as string, /401/);
    consoleErrors.length = 0;
    failedRequests.length = 0;
    await page.fill('#api-key', seeded.adminKey);
    await page.click('button[type=submit]');
    await page.getByTestId('stat-sequences').waitFor();
    const overview = await get<{ total_sequences: number; suspicious: number; unique_ip_pairs: number }>(
      '/v1/overview?from=0',
    );
    assert.equal(overview.total_sequences, seeded.scored);
    const text = async (id: string) => (await page.getByTestId(id).textContent())?.replaceAll(',', '');
    assert.equal(await text('stat-sequences'), String(seeded.scored));
    assert.equal(await text('stat-suspicious'), String(seeded.malicious));
    assert.equal(await text('stat-pairs'), String(overview.unique_ip_pairs));
    // The charts are real canvases with pixels on them.
    assert.ok((await page.locator('main canvas').count()) >= 4);
    await page.getByRole('img', { name: 'Findings per ATT&CK tactic' }).waitFor();
    await shot('01-overview-dark');
  });

  it('overview → finding → similar → commonplace: the finding leaves the default list', async () => {
    // Keyboard: "g f" opens the findings list, Enter opens the focused row.
    await page.keyboard.press('g');
    await page.keyboard.press('f');
    await page.getByTestId('findings-table').waitFor();
    await page.waitForURL(/\/findings$/);
    // Sorting: another column, then back to the score, most suspicious first.
    await page.locator('[data-testid=findings-table] button[data-sort=anomaly]').click();
    await page.waitForURL(/sort=anomaly&order=desc/);
    await page.locator('[data-testid=findings-table] button[data-sort=score]').click();
    await page.waitForURL(/sort=score&order=desc/);
    const firstRow = page.locator('[data-testid=findings-table] tbody tr[data-key]').first();
    await firstRow.waitFor();
    await shot('02-findings');
    await firstRow.focus();
    await page.keyboard.press('Enter');
    await page.getByTestId('finding-summary').waitFor();
    await page.locator('[data-testid=similar-table] tbody tr[data-key]').first().waitFor();
    await page.locator('[data-testid=evidence-table] tbody tr').first().waitFor();
    // The five baseline sub-scores of findings.v1, reflection last, each with its value.
    const subscores = page.locator('[data-testid=subscores] li');
    assert.deepEqual(
      await subscores.locator('meter').evaluateAll((ms) => ms.map((m) => m.getAttribute('aria-label'))),
      ['beacon', 'scan', 'brute_force', 'exfiltration', 'reflection'],
    );
    await shot('03-finding-detail');
    // Exports download through the key-carrying fetch: the OCSF one is a Detection Finding.
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'OCSF', exact: true }).click(),
    ]);
    const ocsfPath = await download.path();
    const ocsf = JSON.parse(readFileSync(ocsfPath, 'utf8').trim().split('\n')[0] as string) as {
      class_uid: number;
      finding_info: { uid: string };
    };
    assert.equal(ocsf.class_uid, 2004);
    assert.equal(ocsf.finding_info.uid, new URL(page.url()).pathname.split('/').at(-1));

    // Open the nearest neighbour: the finding we will mark commonplace.
    const neighbour = page.locator('[data-testid=similar-table] tbody tr[data-key]').first();
    const id = (await neighbour.getAttribute('data-key')) as string;
    await neighbour.click();
    await page.waitForURL(new RegExp(`/findings/${id}$`));
    const target = await get<{ src_ip: string; dst_ip: string; status: string }>(`/v1/findings/${id}`);
    assert.notEqual(target.status, 'suppressed');

    const pairList = `/findings?src_ip=${encodeURIComponent(target.src_ip)}&dst_ip=${encodeURIComponent(target.dst_ip)}`;
    const rowOf = page.locator(`[data-testid=findings-table] tr[data-key="${id}"]`);
    await page.goto(url(pairList));
    await rowOf.waitFor();

    await page.goto(url(`/findings/${id}`));
    await page.getByTestId('action-commonplace').click();
    await page.getByTestId('commonplace-reason').fill('backup job, every night');
    await page.getByTestId('commonplace-confirm').click();
    await page.getByTestId('action-message').filter({ hasText: 'commonplace' }).waitFor();
    assert.equal((await get<{ status: string }>(`/v1/findings/${id}`)).status, 'suppressed');
    const rules = await get<{ items: { id: string; finding_id: string; reason: string }[] }>(
      '/v1/suppressions',
    );
    assert.deepEqual(
      rules.items.map((r) => [r.finding_id, r.reason]),
      [[id, 'backup job, every night']],
    );
    // The detail page names the rule that suppressed it.
    await page.goto(url(`/findings/${id}`));
    assert.equal(
      (await page.getByTestId('suppressed-by').textContent())?.trim(),
      `by rule ${rules.items[0]?.id}`,
    );

    await page.goto(url(pairList));
    await page.getByTestId('findings-table').waitFor();
    await page.getByTestId('findings-count').waitFor();
    assert.equal(await rowOf.count(), 0, 'a commonplace finding must leave the default list');
    // Still there when the analyst asks for suppressed findings.
    await page.getByTestId('filter-status').selectOption('suppressed');
    await rowOf.waitFor();
  });

  it('forensics for an IP pair shows the totals the API computes', async () => {
    const top = await get<{ items: { src_ip: string; dst_ip: string }[] }>(
      '/v1/findings?sort=-score&limit=1',
    );
    const { src_ip, dst_ip } = top.items[0] as { src_ip: string; dst_ip: string };
    const api = await get<{ connections: number; fwd_bytes: number; bwd_bytes: number; sequences: number }>(
      `/v1/forensics?src_ip=${encodeURIComponent(src_ip)}&dst_ip=${encodeURIComponent(dst_ip)}`,
    );
    assert.ok(api.sequences > 0);
    await page.goto(url('/forensics'));
    await page.getByTestId('forensics-src').fill(src_ip);
    await page.getByTestId('forensics-dst').fill(dst_ip);
    await page.getByTestId('forensics-go').click();
    await page.waitForURL(/src=/);
    const exact = page.getByTestId('forensics-exact');
    await exact.filter({ hasText: `${api.connections} ${api.fwd_bytes} ${api.bwd_bytes}` }).waitFor();
    assert.equal(
      (await page.getByTestId('forensics-sequences').textContent())?.replaceAll(',', ''),
      String(api.sequences),
    );
    await page.locator('[data-testid=occurrences-table] tbody tr[data-key]').first().waitFor();
    await shot('04-forensics');
  });

  it('ask answers with a table and the query that ran', async () => {
    const top = await get<{ items: { src_ip: string; dst_ip: string }[] }>(
      '/v1/findings?sort=-score&limit=1',
    );
    const { src_ip, dst_ip } = top.items[0] as { src_ip: string; dst_ip: string };
    await page.keyboard.press('g');
    await page.keyboard.press('a');
    await page.getByTestId('ask-input').fill(`traffic between ${src_ip} and ${dst_ip}`);
    await page.getByTestId('ask-submit').click();
    await page.getByTestId('ask-query').filter({ hasText: 'GET /v1/forensics' }).waitFor();
    await page.locator('[data-testid=ask-results] tbody tr[data-key]').first().waitFor();
    await shot('05-ask');
  });

  it('embedding map: lasso-select a group and open a case with it', async () => {
    await page.goto(url('/map'));
    const canvas = page.getByTestId('embedding-canvas');
    await canvas.waitFor();
    const box = await canvas.boundingBox();
    assert.ok(box);
    // Hover shows the sequence under the pointer somewhere on the map.
    await page.getByTestId('map-method').waitFor();
    // Lasso the whole left half of the map.
    await page.mouse.move(box.x + 4, box.y + 4);
    await page.mouse.down();
    for (const [fx, fy] of [
      [0.5, 0.01],
      [0.5, 0.99],
      [0.01, 0.99],
      [0.01, 0.02],
    ] as const)
      await page.mouse.move(box.x + box.width * fx, box.y + box.height * fy, { steps: 6 });
    await page.mouse.up();
    const selected = Number(await page.getByTestId('map-selected').textContent());
    assert.ok(selected > 0, 'the lasso selected points');
    await shot('06-embedding-map');
    await page.getByTestId('map-case').click();
    await page.getByRole('status').filter({ hasText: 'case was opened' }).waitFor();
    const cases = await get<{ items: { title: string; finding_ids: string[] }[] }>('/v1/cases');
    const made = cases.items.find((c) => c.title.startsWith('Embedding map group'));
    assert.equal(made?.finding_ids.length, selected);

    await page.keyboard.press('g');
    await page.keyboard.press('c');
    await page.locator('[data-testid=cases-table] tbody tr[data-key]').first().click();
    await page.getByRole('heading', { name: /Embedding map group/ }).waitFor();
    await page.locator('[data-testid=case-findings] tbody tr[data-key]').first().waitFor();
    await shot('07-cases');
  });

  it('sources & status and settings render live data; the light theme works', async () => {
    await page.goto(url('/sources'));
    await page.getByTestId('readyz').filter({ hasText: 'ready' }).waitFor();
    const { items } = await get<{ items: { model_version: string }[] }>('/v1/findings?limit=1');
    const version = items[0]?.model_version as string;
    await page.locator('[data-testid=models-in-use] tbody tr').filter({ hasText: version }).waitFor();
    await shot('08-sources');

    await page.goto(url('/settings'));
    await page.getByPlaceholder('10.0.0.53 or 10.0.1.0/24').fill('10.0.2.19');
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    await page.getByRole('cell', { name: '10.0.2.19', exact: true }).waitFor();
    const devices = await get<{ items: { address: string; type: string }[] }>('/v1/device-types');
    assert.deepEqual(
      devices.items.map((d) => [d.address, d.type]),
      [['10.0.2.19', 'server']],
    );
    await page.locator('[data-testid=suppressions-table] tbody tr').first().waitFor();
    await page.getByTestId('theme-toggle').click();
    // The theme reaches <html> from an effect, after the render that follows the click.
    await page.getByTestId('theme-toggle').filter({ hasText: 'Dark theme' }).waitFor();
    await page.waitForFunction(() => document.documentElement.dataset['theme'] !== 'dark', null, {
      timeout: 5000,
    });
    assert.equal(await page.evaluate(() => document.documentElement.dataset['theme']), 'light');
    await shot('09-settings-light');
    await page.goto(url('/'));
    await page.getByTestId('stat-sequences').waitFor();
    await page.getByRole('img', { name: 'Findings per ATT&CK tactic' }).waitFor();
    await shot('10-overview-light');
    await page.setViewportSize({ width: 2560, height: 1440 });
    await shot('11-overview-2560');
  });

  it('serves the UI with caching headers, deep links and the API untouched', async () => {
    const index = await fetch(url('/findings/00000000-0000-5000-8000-000000000000'), {
      headers: { 'accept-encoding': 'br, gzip' },
    });
    assert.equal(index.status, 200);
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    assert.match(index.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    const html = await index.text();
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1] as string;
    const js = await fetch(url(asset), { headers: { 'accept-encoding': 'br' } });
    assert.equal(js.status, 200);
    assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(js.headers.get('content-encoding'), 'br');
    const again = await fetch(url(asset), { headers: { 'if-none-match': js.headers.get('etag') as string } });
    assert.equal(again.status, 304);
    assert.equal((await fetch(url('/assets/missing.js'))).status, 404);
    // Unknown API paths reach the API's own handlers (auth first), never index.html.
    assert.equal((await fetch(url('/v1/no-such-route'))).status, 401);
    const api = await fetch(url('/v1/no-such-route'), {
      headers: { authorization: `Bearer ${seeded.adminKey}` },
    });
    assert.equal(api.status, 404);
    assert.match(api.headers.get('content-type') ?? '', /json/);
  });

  it('logged no console errors on any page', () => {
    assert.deepEqual(consoleErrors, [], failedRequests.join('\n'));
  });
});
