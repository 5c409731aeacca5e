// A multipart upload: http.file() in an object body switches the request to multipart/form-data.
import http from 'k6/http';
import { check } from 'k6';

const note = open('./data/note.txt');

export const options = { vus: 1, iterations: 2 };

export default function () {
  const res = http.post(`${__ENV.BASE}/echo`, {
    title: 'delivery note',
    file: http.file(note, 'note.txt', 'text/plain'),
  });
  check(res, {
    'multipart': (r) => r.json('headers.content-type').startsWith('multipart/form-data; boundary='),
    'file part': (r) => r.json('body').includes('filename="note.txt"') && r.json('body').includes('Leave at the door.'),
    'field part': (r) => r.json('body').includes('name="title"'),
  });
}
