export const options = {
  vus: 10,
  duration: '30s',
  rps: 100,
};
export default function () {}
