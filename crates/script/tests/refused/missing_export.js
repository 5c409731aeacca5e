import { login, logout } from './lib/auth.js';
export default function () {
  login();
}
