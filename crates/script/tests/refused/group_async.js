import http from 'k6/http';
import { group } from 'k6';
export default function () {
  group('checkout', async () => {
    http.get('http://127.0.0.1:1/cart');
  });
}
