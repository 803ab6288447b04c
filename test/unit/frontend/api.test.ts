import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { callApi } from '../../../frontend/src/api.js';

describe('callApi', () => {
  it('sends same-origin credentials and JSON, and returns the data with timings', async () => {
    // Prepare
    let seen: { input: string; init?: RequestInit } | undefined;
    const fetchImpl = async (input: string, init?: RequestInit) => {
      seen = { input, init };
      return new Response(JSON.stringify({ ok: 1 }), { status: 200, headers: { 'content-type': 'application/json' } });
    };
    let tick = 100;

    // Act
    const result = await callApi<{ ok: number }>('POST', '/api/local/sign-in', { username: 'alice' }, fetchImpl, () => tick++);

    // Assess
    assert.equal(seen?.init?.credentials, 'same-origin');
    assert.equal(seen?.init?.body, '{"username":"alice"}');
    assert.deepEqual(result, { ok: true, status: 200, data: { ok: 1 }, sentAt: 100, receivedAt: 101 });
  });

  it('returns the API error message on refusal', async () => {
    // Prepare
    const body = { error: { code: 'not_allowed', message: 'You are not a researcher on analysis "census-2021"' } };
    const fetchImpl = async () => new Response(JSON.stringify(body), { status: 403 });

    // Act
    const result = await callApi('GET', '/api/workspaces/census-2021', undefined, fetchImpl);

    // Assess
    assert.deepEqual(result, { ok: false, status: 403, code: 'not_allowed', message: body.error.message });
  });

  it('reports a network failure as status 0 instead of throwing', async () => {
    // Prepare
    const fetchImpl = async (): Promise<Response> => {
      throw new TypeError('fetch failed');
    };

    // Act
    const result = await callApi('GET', '/api/me', undefined, fetchImpl);

    // Assess
    assert.equal(result.ok, false);
    assert.equal(result.status, 0);
  });

  it('accepts 204 with no body', async () => {
    // Prepare
    const fetchImpl = async () => new Response(null, { status: 204 });

    // Act
    const result = await callApi('POST', '/api/local/sign-in', { username: 'alice' }, fetchImpl);

    // Assess
    assert.equal(result.ok, true);
    assert.equal(result.status, 204);
  });

  it("falls back to the gateway's own message", async () => {
    // Prepare
    const fetchImpl = async () => new Response(JSON.stringify({ message: 'Request Entity Too Large' }), { status: 413 });

    // Act
    const result = await callApi('POST', '/api/workspaces/demo/open', undefined, fetchImpl);

    // Assess
    assert.deepEqual(result, { ok: false, status: 413, code: 'http_413', message: 'Request Entity Too Large' });
  });
});
