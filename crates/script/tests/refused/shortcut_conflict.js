export const options = {
  duration: '1m',
  stages: [{ duration: '30s', target: 10 }],
};
export default function () {}
