import { Counter } from 'k6/metrics';
const orders = new Counter('orders');
orders.add(1);
export default function () {}
