const config = JSON.parse('{"base": "http://127.0.0.1:1"');
export default function () {}
