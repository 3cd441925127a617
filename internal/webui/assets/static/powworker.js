// livedrop proof-of-work worker: finds a nonce such that
// sha256(seed (16 bytes) || nonce (8 bytes, big-endian)) starts with `bits`
// zero bits. The message is one SHA-256 block, so each try is one
// compression, done here on 32-bit words without allocating.
'use strict';

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const H0 = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
const W = new Int32Array(64);
const OUT = new Int32Array(8);

// hash fills OUT with sha256 of the block in W[0..15].
function hash() {
  for (let i = 16; i < 64; i++) {
    const w15 = W[i - 15], w2 = W[i - 2];
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
    W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
  }
  let a = H0[0], b = H0[1], c = H0[2], d = H0[3], e = H0[4], f = H0[5], g = H0[6], h = H0[7];
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
  }
  OUT[0] = (H0[0] + a) | 0; OUT[1] = (H0[1] + b) | 0; OUT[2] = (H0[2] + c) | 0; OUT[3] = (H0[3] + d) | 0;
  OUT[4] = (H0[4] + e) | 0; OUT[5] = (H0[5] + f) | 0; OUT[6] = (H0[6] + g) | 0; OUT[7] = (H0[7] + h) | 0;
}

function zeroBits() {
  let n = 0;
  for (let i = 0; i < 8; i++) {
    if (OUT[i] !== 0) return n + Math.clz32(OUT[i]);
    n += 32;
  }
  return n;
}

function solve(seedHex, bits) {
  const seed = new Uint32Array(4);
  for (let i = 0; i < 4; i++) seed[i] = parseInt(seedHex.slice(i * 8, i * 8 + 8), 16);
  for (let hi = 0; hi < 0x100000; hi++) {
    for (let lo = 0; lo <= 0xffffffff; lo++) {
      // hash() rewrites W[16..63] only: the block's words are set each try.
      W.fill(0, 6, 16);
      W[0] = seed[0]; W[1] = seed[1]; W[2] = seed[2]; W[3] = seed[3];
      W[4] = hi; W[5] = lo;
      W[6] = 0x80000000; // the padding's 1 bit
      W[15] = 24 * 8; // message length in bits
      hash();
      if (zeroBits() >= bits) return (BigInt(hi) * 4294967296n + BigInt(lo)).toString();
    }
  }
  return '';
}

self.onmessage = (ev) => {
  const { id, seed, bits } = ev.data || {};
  if (typeof seed !== 'string' || !/^[0-9a-f]{32}$/.test(seed) || !(bits >= 1 && bits <= 32)) {
    self.postMessage({ id, error: 'bad challenge' });
    return;
  }
  const t0 = performance.now();
  const nonce = solve(seed, bits);
  self.postMessage({ id, nonce, ms: Math.round(performance.now() - t0) });
};
