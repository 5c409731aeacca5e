import { WebSocket } from 'k6/experimental/websockets';
export default function () {
  const ws = new WebSocket('ws://127.0.0.1:1');
}
