export default async function () {
  const lib = await import('./lib/auth.js');
}
