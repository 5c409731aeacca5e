import exec from 'k6/execution';
export default function () {
  console.log(exec.instance.vusActive);
}
