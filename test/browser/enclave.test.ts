/**
 * The enclave journey in a real browser against the real local platform (issue 5): alice submits from her
 * workspace; rita reviews the code in /review and approves; the run executes under bubblewrap with the real
 * data; rita sees the outputs with a small count flagged and approves; alice downloads a file whose bytes
 * hash to what rita saw. Then a changed submission shows its diff and is rejected with a comment alice
 * reads, and a reviewer's own run offers no decision. Saves the README's enclave screenshots.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { DynamoAnalysisCatalog } from '../../lambdas/adapters/aws/dynamo-catalog.js';
import { seedDemoDatasets } from '../../local/enclave/demo-data.js';
import { launchChromium } from '../support/browser.js';
import { ENCLAVE_SKIP } from '../support/enclave.js';
import { call } from '../support/http.js';
import { openUntilReady, signIn as signInOverHttp, startTestRuntime, type TestRuntime } from '../support/local-runtime.js';
import { reviewRunPath as reviewPathOf } from '../../frontend/src/logic/routes.js';

const SHOTS = 'docs/screenshots';
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('browser: enclave runs, submit and review', { timeout: 300_000, skip: ENCLAVE_SKIP }, () => {
  let t: TestRuntime;
  let browser: Browser;
  let alice: BrowserContext;
  let rita: BrowserContext;
  let alicePage: Page;
  let ritaPage: Page;
  const desk = () => `http://app.localhost:${t.port}`;
  const signedIn = new Set<BrowserContext>();

  before(async () => {
    t = await startTestRuntime();
    // rita's own study, so that she has a run of her own to (not) review
    const catalog = t.runtime.deps.catalog;
    assert.ok(catalog instanceof DynamoAnalysisCatalog, 'the local runtime keeps its catalog in DynamoDB');
    await catalog.putAnalysis({ analysisId: 'rita-study', title: "Rita's study", members: ['rita'], tool: 'jupyter', size: 'small' });
    await seedDemoDatasets(join(t.dataDir, 'datasets'), ['rita-study']);
    // A second reviewer, who decides rita's own run
    await catalog.putUser({ userId: 'rex', name: 'Rex Reviewer', roles: ['reviewer'] });
    browser = await launchChromium();
    alice = await browser.newContext({ viewport: { width: 1360, height: 860 }, acceptDownloads: true });
    rita = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    alicePage = await alice.newPage();
    ritaPage = await rita.newPage();
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  /** Open `path`, signing in as `username` first when the context has no session yet. */
  async function signIn(page: Page, username: string, path: string) {
    await page.goto(`${desk()}${path}`);
    if (signedIn.has(page.context())) return;
    await page.waitForURL(/\/sign-in/);
    await page.getByLabel('Username').fill(username);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${desk()}${path}`);
    signedIn.add(page.context());
  }

  async function workspaceReady(page: Page) {
    await page.getByTestId('workspace-frame').waitFor({ timeout: 60_000 });
    await page.getByTestId('workspace-state').filter({ hasText: 'Connected' }).waitFor({ timeout: 30_000 });
  }

  async function submit(page: Page, description: string): Promise<string> {
    await page.getByTestId('submit-to-enclave').click();
    const dialog = page.getByTestId('submit-dialog');
    await page.getByTestId('submit-description').fill(description);
    await page.getByTestId('submit-send').click();
    await dialog.getByTestId('submit-result').waitFor();
    await page.getByTestId('submit-done').click();
    await dialog.waitFor({ state: 'detached' });
    const run = page.getByTestId('run').filter({ hasText: description });
    await run.waitFor();
    return (await run.getAttribute('data-run-id')) ?? '';
  }

  /** The queue polls every 10 s; reloading shows a new arrival at once. */
  async function openFromQueue(page: Page, id: string, step: string) {
    const row = page.locator(`[data-testid="queue-row"][data-run-id="${id}"][data-step="${step}"]`);
    const until = Date.now() + 60_000;
    for (;;) {
      await page.goto(`${desk()}/review`);
      await page.getByTestId('review-queue').waitFor();
      if (await row.count()) break;
      if (Date.now() > until) throw new Error(`${id} did not reach ${step} in the queue`);
      await page.waitForTimeout(500);
    }
    return row;
  }

  /** Click Approve or Reject and wait for the page's answer; a refusal fails with the server's message. */
  async function decide(page: Page, verdict: 'approve' | 'reject', outcome: RegExp) {
    await page.getByTestId(verdict).click();
    const answer = page.locator('[data-testid="decision-done"], [data-testid="decision-error"]');
    await answer.first().waitFor({ timeout: 60_000 });
    assert.match(await answer.first().innerText(), outcome);
  }

  it('alice submits, rita approves code and outputs with a flagged small count, alice downloads what rita saw', async () => {
    // Prepare: alice's workspace is running (its home holds the starter project)
    await signIn(alicePage, 'alice', '/a/demo');
    await workspaceReady(alicePage);

    // Act: an empty description is refused on the page; then a real one is submitted
    await alicePage.getByTestId('submit-to-enclave').click();
    await alicePage.getByTestId('submit-send').click();
    await alicePage.getByTestId('submit-dialog').getByRole('alert').filter({ hasText: 'Describe the run' }).waitFor();
    await alicePage.getByTestId('submit-description').fill('Counts of people per region, first run on the real data');
    await alicePage.screenshot({ path: `${SHOTS}/enclave-submit.png` });
    await alicePage.keyboard.press('Escape');
    await alicePage.getByTestId('submit-dialog').waitFor({ state: 'detached' });
    const id = await submit(alicePage, 'Counts of people per region');

    // Assess: the run waits for code review in alice's runs list
    const aliceRun = alicePage.locator(`[data-testid="run"][data-run-id="${id}"]`);
    await aliceRun.and(alicePage.locator('[data-state="code-review"]')).waitFor();
    assert.match(await aliceRun.getByTestId('run-waiting').innerText(), /waiting \d+ s/);

    // Act: rita opens the review console and the run
    await signIn(ritaPage, 'rita', '/review');
    const row = await openFromQueue(ritaPage, id, 'code-review');
    assert.match(await row.getByTestId('queue-waiting').innerText(), /^\d+ s$/);
    // local mode: the queue links to rita's mail, which says the run waits for code review
    assert.match(await ritaPage.getByTestId('outbox-link').innerText(), /Your mail \([1-9]\d*\)/);
    await ritaPage.screenshot({ path: `${SHOTS}/review-queue.png` });
    await row.getByTestId('queue-open').click();
    await ritaPage.getByTestId('run-review').waitFor();

    // Assess: the manifest and the files' contents; the synthetic data was left out
    const paths = await ritaPage.getByTestId('manifest-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-path')));
    assert.ok(paths.includes('run.sh') && paths.includes('analysis.py'), paths.join());
    assert.ok(!paths.some((p) => p?.startsWith('data/synthetic')), paths.join());
    await ritaPage.getByTestId('manifest-row').filter({ hasText: 'run.sh' }).getByRole('button').click();
    await ritaPage.getByTestId('file-view').and(ritaPage.locator('[data-path="run.sh"]')).getByTestId('file-text').filter({ hasText: 'python3 analysis.py' }).waitFor();
    await ritaPage.getByTestId('manifest-row').filter({ hasText: 'analysis.py' }).getByRole('button').click();
    await ritaPage.getByTestId('file-text').filter({ hasText: 'Counter' }).waitFor();
    assert.match(await ritaPage.getByTestId('approvals').innerText(), /0 of 1 approval/);

    // Act: rita approves the code
    await decide(ritaPage, 'approve', /The code is approved/);

    // Act: the run executes; rita opens it at output review
    const outputRow = await openFromQueue(ritaPage, id, 'output-review');
    assert.match(await outputRow.innerText(), /disclosure finding/);
    await outputRow.getByTestId('queue-open').click();
    await ritaPage.getByTestId('outputs-tab').waitFor();

    // Assess: the CSV is previewed as a table with the small count flagged; the run read the real data
    const csvView = ritaPage.getByTestId('file-view').and(ritaPage.locator('[data-path="by_region.csv"]'));
    await csvView.getByTestId('csv-preview').waitFor();
    const flagged = await csvView.getByTestId('flagged-cell').allInnerTexts();
    assert.ok(flagged.length >= 1, 'a small count is flagged');
    assert.ok(flagged.every((text) => /\d/.test(text)));
    await ritaPage.getByTestId('findings').waitFor();
    const sawSha = (await csvView.getByTestId('file-sha256').innerText()).trim();
    assert.match(sawSha, /^[0-9a-f]{64}$/);
    await ritaPage.screenshot({ path: `${SHOTS}/review-outputs.png`, fullPage: true });
    await ritaPage.getByTestId('output-row').filter({ hasText: 'summary.txt' }).getByRole('button').click();
    await ritaPage.getByTestId('file-text').filter({ hasText: '57 people read from /data' }).waitFor();

    // Act: rita approves the outputs
    await decide(ritaPage, 'approve', /The outputs are approved/);

    // Assess: alice's list shows "Released" (polled), with who reviewed and a download link
    await aliceRun.and(alicePage.locator('[data-state="released"]')).waitFor({ timeout: 30_000 });
    assert.match(await aliceRun.getByTestId('run-decisions').innerText(), /Code approved by rita[\s\S]*Outputs approved by rita/);
    const fileLink = aliceRun.locator('[data-testid="download-file"][data-path="by_region.csv"]');
    await fileLink.waitFor();
    await alicePage.screenshot({ path: `${SHOTS}/enclave-runs.png` });

    // Act: alice downloads the file
    const [download] = await Promise.all([alicePage.waitForEvent('download'), fileLink.click()]);
    const bytes = await readFile((await download.path())!);

    // Assess: byte for byte what rita saw
    assert.equal(sha256(bytes), sawSha);
    assert.match(bytes.toString('utf8'), /^region,count\n/);
  });

  it('a changed submission shows its diff; rita rejects it with a comment alice reads', async () => {
    // Prepare: alice changes analysis.py in Jupyter (through the tool's own API, in the iframe)
    const src = (await alicePage.getByTestId('workspace-frame').getAttribute('src')) ?? '';
    const tool = alicePage.frames().find((f) => f.url().startsWith(src));
    assert.ok(tool, 'the iframe holds the workspace host');
    const saved = await tool.evaluate(async () => {
      const read = await (await fetch('/api/contents/analysis.py?content=1')).json();
      const content = `${read.content}\n# Also count smokers per region\nprint('done')\n`;
      const response = await fetch('/api/contents/analysis.py', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'file', format: 'text', content }) });
      return response.status;
    });
    assert.equal(saved, 200);

    // Act: alice submits again; rita opens it
    const id = await submit(alicePage, 'Second pass: smokers per region');
    const row = await openFromQueue(ritaPage, id, 'code-review');
    await row.getByTestId('queue-open').click();
    await ritaPage.getByTestId('run-review').waitFor();

    // Assess: the diff against the approved first run: analysis.py changed, run.sh not
    assert.match(await ritaPage.getByTestId('diff-summary').innerText(), /0 added, 1 changed, 0 removed/);
    assert.equal(await ritaPage.locator('[data-testid="manifest-row"][data-path="analysis.py"]').getAttribute('data-change'), 'changed');
    assert.equal(await ritaPage.locator('[data-testid="manifest-row"][data-path="run.sh"]').getAttribute('data-change'), 'unchanged');
    const diff = ritaPage.getByTestId('file-diff');
    await diff.waitFor();
    assert.match(await diff.innerText(), /\+# Also count smokers per region/);
    await ritaPage.screenshot({ path: `${SHOTS}/review-diff.png`, fullPage: true });

    // Act: a rejection without a comment is refused on the page; with one, it is sent
    await decide(ritaPage, 'reject', /Say why you reject/);
    await ritaPage.getByTestId('decision-comment-input').fill('Please show smokers only as shares: the West counts are too small.');
    await decide(ritaPage, 'reject', /The code is rejected/);

    // Assess: alice sees the rejection and rita's comment, and the mail in her outbox
    const aliceRun = alicePage.locator(`[data-testid="run"][data-run-id="${id}"]`);
    await aliceRun.and(alicePage.locator('[data-state="rejected"]')).waitFor({ timeout: 15_000 });
    assert.match(await aliceRun.getByTestId('decision-comment').innerText(), /West counts are too small/);
    const outbox = await alice.newPage();
    await outbox.goto(`${desk()}/outbox`);
    await outbox.getByTestId('mail').first().waitFor();
    assert.ok((await outbox.getByTestId('mail').count()) >= 2, 'a mail for the release and one for the rejection');

    // Assess: the runs page lists both runs, newest first
    await outbox.goto(`${desk()}/a/demo/runs`);
    await outbox.getByTestId('run').nth(1).waitFor();
    assert.deepEqual(await outbox.getByTestId('run').evaluateAll((runs) => runs.map((r) => r.getAttribute('data-state'))), ['rejected', 'released']);
    await outbox.close();
  });

  it("a reviewer's own run offers no decision, saying why", async () => {
    // Prepare: rita submits a run of her own study
    const own = await rita.newPage();
    await signIn(own, 'rita', '/a/rita-study');
    await workspaceReady(own);
    const id = await submit(own, "Rita's own analysis");

    // Act: she opens it in the review console
    const row = await openFromQueue(ritaPage, id, 'code-review');
    await row.getByTestId('queue-open').click();
    await ritaPage.getByTestId('run-review').waitFor();

    // Assess: no buttons, the server's reason instead; the server refuses a decision anyway
    assert.match(await ritaPage.getByTestId('no-decision').innerText(), /own run/i);
    assert.equal(await ritaPage.getByTestId('approve').count(), 0);
    assert.equal(await ritaPage.getByTestId('reject').count(), 0);
    const refused = await ritaPage.evaluate(async (runId) => {
      const detail = await (await fetch(`/api/runs/${encodeURIComponent(runId)}`)).json();
      const response = await fetch(`/api/runs/${encodeURIComponent(runId)}/decisions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ verdict: 'approve', comment: '', manifestDigest: detail.manifest.digest }),
      });
      return { status: response.status, body: await response.json() };
    }, id);
    assert.equal(refused.status, 403);
    assert.match(refused.body.error.message, /own run/);

    // Act: another reviewer rejects it (nothing is left waiting when the platform stops)
    const rex = await signInOverHttp(t, 'rex');
    const detail = (await call(t.port, t.desk, 'GET', `/api/runs/${encodeURIComponent(id)}`, { jar: rex })).json();
    const decided = await call(t.port, t.desk, 'POST', `/api/runs/${encodeURIComponent(id)}/decisions`, {
      jar: rex,
      body: { verdict: 'reject', comment: 'Add a README that says what the run is for.', manifestDigest: detail.manifest.digest },
    });

    // Assess: rita sees rex's decision on her own run
    assert.equal(decided.status, 200, decided.body);
    const ownRun = own.locator(`[data-testid="run"][data-run-id="${id}"]`);
    await ownRun.and(own.locator('[data-state="rejected"]')).waitFor({ timeout: 15_000 });
    assert.match(await ownRun.getByTestId('run-decisions').innerText(), /Code rejected by rex/);
    await own.close();
  });

  it('a description that is one long word wraps: the queue and the run page stay as wide as the window', async () => {
    // Prepare: alice submits with the longest description allowed, without a space
    const jar = await signInOverHttp(t, 'alice');
    const submitted = await call(t.port, t.desk, 'POST', '/api/analyses/demo/runs', { jar, body: { description: 'x'.repeat(500) } });
    assert.equal(submitted.status, 202, submitted.body);
    const id: string = submitted.json().id;
    const overflow = () => ritaPage.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);

    // Act: rita opens the queue, then the run
    const row = await openFromQueue(ritaPage, id, 'code-review');
    const queueOverflow = await overflow();
    await row.getByTestId('queue-open').click();
    await ritaPage.getByTestId('run-review').waitFor();
    const pageOverflow = await overflow();

    // Assess: nothing wider than the window
    assert.deepEqual({ queueOverflow, pageOverflow }, { queueOverflow: 0, pageOverflow: 0 });

    // Clean up: rejected, so nothing is left waiting when the platform stops
    const rita = await signInOverHttp(t, 'rita');
    const detail = (await call(t.port, t.desk, 'GET', `/api/runs/${encodeURIComponent(id)}`, { jar: rita })).json();
    const decided = await call(t.port, t.desk, 'POST', `/api/runs/${encodeURIComponent(id)}/decisions`, {
      jar: rita,
      body: { verdict: 'reject', comment: 'A shorter description, please.', manifestDigest: detail.manifest.digest },
    });
    assert.equal(decided.status, 200, decided.body);
  });
});

describe('browser: two-approval mode', { timeout: 240_000, skip: ENCLAVE_SKIP }, () => {
  let t: TestRuntime;
  let browser: Browser;
  before(async () => {
    t = await startTestRuntime({ CARREL_REQUIRED_APPROVALS: '2' });
    const catalog = t.runtime.deps.catalog;
    assert.ok(catalog instanceof DynamoAnalysisCatalog);
    await catalog.putUser({ userId: 'rex', name: 'Rex Reviewer', roles: ['reviewer'] });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  async function reviewPage(username: string, id: string): Promise<Page> {
    const page = await (await browser.newContext()).newPage();
    const path = reviewPathOf(id);
    await page.goto(`http://app.localhost:${t.port}${path}`);
    await page.waitForURL(/\/sign-in/);
    await page.getByLabel('Username').fill(username);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`http://app.localhost:${t.port}${path}`);
    await page.getByTestId('run-review').waitFor();
    return page;
  }

  it('shows "1 of 2 approvals" after the first reviewer, and the second approval approves', async () => {
    // Prepare: alice submits her home over the API
    const jar = await signInOverHttp(t, 'alice');
    await openUntilReady(t, jar, 'demo');
    const submitted = await call(t.port, t.desk, 'POST', '/api/analyses/demo/runs', { jar, body: { description: 'Two reviewers, please' } });
    assert.equal(submitted.status, 202, submitted.body);
    const id: string = submitted.json().id;
    const rita = await reviewPage('rita', id);
    await rita.getByTestId('approvals').filter({ hasText: '0 of 2 approvals' }).waitFor({ timeout: 15_000 });

    // Act: rita approves
    await rita.getByTestId('approve').click();

    // Assess: pending, "1 of 2 approvals"; on reload her part is done (the server says why)
    await rita.getByTestId('decision-done').filter({ hasText: '1 of 2 approvals' }).waitFor();
    await rita.reload();
    await rita.getByTestId('approvals').filter({ hasText: '1 of 2 approvals' }).waitFor();
    await rita.getByTestId('no-decision').waitFor();
    assert.equal(await rita.getByTestId('approve').count(), 0);

    // Act: rex approves too
    const rex = await reviewPage('rex', id);
    assert.match(await rex.getByTestId('approvals').innerText(), /1 of 2 approvals/);
    await rex.getByTestId('approve').click();

    // Assess: the code is approved and the run moves on
    await rex.getByTestId('decision-done').filter({ hasText: 'The code is approved' }).waitFor();
    await rex.getByTestId('run-state').filter({ hasNotText: 'code review' }).waitFor();
  });
});
