// open() in the init context: a JSON fixture parsed once and a text file sent as a body.
import http from 'k6/http';
import { check } from 'k6';

const note = open('./data/note.txt');
const order = JSON.parse(open('./data/order.json'));

export const options = { vus: 1, iterations: 2 };

export default function () {
  const cart = http.post(`${__ENV.BASE}/cart`, JSON.stringify(order), {
    headers: { 'Content-Type': 'application/json' },
  });
  check(cart, { 'fixture lines': (r) => r.json('cart.items.#') === 2 && r.json('cart.items.1.qty') === 2 });
  const res = http.put(`${__ENV.BASE}/echo`, note, { headers: { 'Content-Type': 'text/plain' } });
  check(res, { 'note sent as is': (r) => r.json('body') === 'Leave at the door.\n' });
}
