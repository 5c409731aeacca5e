import { Counter, Trend } from 'k6/metrics';
const orders = new Counter('orders');
const ordersTime = new Trend('orders', true);
export default function () {}
