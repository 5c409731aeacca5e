import { createHash } from 'k6/crypto';
export default function () {
  createHash('sha256');
}
