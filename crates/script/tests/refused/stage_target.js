export const options = {
  stages: [
    { duration: '30s', target: 10 },
    { duration: '1m', target: -5 },
  ],
};
export default function () {}
