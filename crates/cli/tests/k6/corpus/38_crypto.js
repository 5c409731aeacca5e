// k6/crypto: sha256, md5 and an HMAC signature sent as a header, checked against known digests.
import http from 'k6/http';
import { check } from 'k6';
import crypto from 'k6/crypto';

export const options = { vus: 1, iterations: 2 };

export default function () {
  const body = JSON.stringify({ order: 42 });
  const signature = crypto.hmac('sha256', 'key', body, 'hex');
  const res = http.post(`${__ENV.BASE}/echo`, body, { headers: { 'X-Signature': signature } });
  check(res, {
    'signature arrived': (r) => r.json('headers.x-signature') === signature && signature.length === 64,
    'sha256 of abc': () => crypto.sha256('abc', 'hex') === 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    'sha256 in base64': () => crypto.sha256('abc', 'base64') === 'ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=',
    'md5 of abc': () => crypto.md5('abc', 'hex') === '900150983cd24fb0d6963f7d28e17f72',
    'known hmac': () =>
      crypto.hmac('sha256', 'key', 'The quick brown fox jumps over the lazy dog', 'hex') ===
      'f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8',
  });
}
