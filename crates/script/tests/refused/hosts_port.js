export const options = {
  hosts: { 'test.k6.io:443': '127.0.0.1:8443' },
};
export default function () {}
