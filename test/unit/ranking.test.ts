import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { bayesianAverage, rankTopRated } from '../../src/services/ranking.ts';

const test = suite('top-rated ranking');

test('GIVEN C = 3.6 THEN a single 5★ ranks below ten ratings averaging 4.5', () => {
  const single = { id: 'single', ratingSum: 5, ratingCount: 1, replies: 0 };
  const ten = { id: 'ten', ratingSum: 45, ratingCount: 10, replies: 0 };
  const ranked = rankTopRated([single, ten], 3.6);
  assert.equal(
    ranked.map((r) => r.id),
    ['ten', 'single'],
  );
  assert.ok(Math.abs(bayesianAverage(5, 1, 3.6) - 23 / 6) < 1e-9);
  assert.ok(Math.abs(bayesianAverage(45, 10, 3.6) - 4.2) < 1e-9);
});

test('ties are broken by count, then replies; unrated posts are left out', () => {
  const a = { id: 'a', ratingSum: 8, ratingCount: 2, replies: 1 };
  const b = { id: 'b', ratingSum: 8, ratingCount: 2, replies: 5 };
  const none = { id: 'none', ratingSum: 0, ratingCount: 0, replies: 50 };
  assert.equal(
    rankTopRated([a, none, b], 4).map((r) => r.id),
    ['b', 'a'],
  );
  const c = { id: 'c', ratingSum: 12, ratingCount: 3, replies: 0 }; // same average 4 = C, more ratings
  assert.equal(
    rankTopRated([a, c], 4).map((r) => r.id),
    ['c', 'a'],
  );
});

test.run();
