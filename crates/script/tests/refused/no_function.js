export const options = { vus: 1 };
const helper = () => 1;
