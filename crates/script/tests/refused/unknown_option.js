export const options = {
  vus: 10,
  duraton: '30s',
};
export default function () {}
