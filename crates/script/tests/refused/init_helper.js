import http from 'k6/http';

function login(user) {
  return http.post('http://127.0.0.1:1/login', JSON.stringify({ user })).json('token');
}

const token = login('admin');

export default function () {
  http.get('http://127.0.0.1:1/cart', { headers: { Authorization: token } });
}
