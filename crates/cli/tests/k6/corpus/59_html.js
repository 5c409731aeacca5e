// res.html() and k6/html's parseHTML: a product page read through k6's Selection (find, each, map, attr, val…).
import http from 'k6/http';
import { check } from 'k6';
import { parseHTML } from 'k6/html';
import { Counter } from 'k6/metrics';

const found = new Counter('products_found');

export const options = { vus: 1, iterations: 2, thresholds: { products_found: ['count==10'] } };

export default function () {
  const res = http.get(`${__ENV.BASE}/shop`, { tags: { name: 'shop' } });
  const doc = res.html();
  const products = doc.find('li.product');
  const ids = [];
  products.each((i, el) => { ids.push(el.getAttribute('data-id')); found.add(1); });
  check(doc, {
    'title': (d) => d.find('head title').text() === 'Stampede shop – products',
    'each and size': () => products.size() === 5 && ids.join() === '1,2,3,4,5',
    'map': () => products.map((i, p) => Number(p.find('.price').text())).join() === '10,20,30,40,50',
    'eq, first, last': () => products.eq(2).is('.sale') && products.first().find('a').attr('href') === '/product/1'
      && products.last().attr('data-id') === '5',
    'absent attribute': () => products.attr('data-stock') === undefined && products.attr('data-stock', 'n/a') === 'n/a',
    'val': (d) => d.find('input[name=q]').val() === 'shoes' && d.find('select').val() === 'name'
      && d.find('[name=instock]').val() === 'on' && d.find('textarea').val() === 'fast &amp; &#34;cheap&#34;',
    'children': (d) => d.find('#products').children('li').size() === 5 && d.find('#products').children().size() === 6,
    'html(selector)': () => res.html('input[type=hidden]').attr('value') === 'tok-42',
    'inner html': () => products.first().html() === '<a href="/product/1">Product 1</a> <span class="price">10</span>',
    'malformed markup': (d) => d.find('.sale p').text().trim() === 'Only today' && d.find('form').parent().is('a'),
    'parseHTML': () => parseHTML(res.body).find('p.footer').text().trim() === '© 2026 Stampede & co',
    'invalid selector matches nothing': (d) => d.find('li[data-id').size() === 0,
  });
  // Not a selector: find() throws, the check fails, the iteration ends here (and counts), the next one runs.
  check(doc, { 'find(null) throws': (d) => d.find(null).size() === 0 });
}
