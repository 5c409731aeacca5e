import { SharedArray } from 'k6/data';
const users = new SharedArray('users', function () {
  return JSON.parse(open('./no-such-users.json'));
});
export default function () {}
