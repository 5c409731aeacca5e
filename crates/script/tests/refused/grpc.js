import http from 'k6/http';
import grpc from 'k6/net/grpc';
const client = new grpc.Client();
export default function () {}
