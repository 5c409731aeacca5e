export const config = JSON.parse('{"base": 1');
export const base = 'http://127.0.0.1:1';
