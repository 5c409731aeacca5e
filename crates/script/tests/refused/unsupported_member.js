import { check, sleep } from 'k6';
import { textSummary } from 'k6/http';
export default function () { sleep(1); }
