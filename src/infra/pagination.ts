import { Type } from '@sinclair/typebox'

/** The highest page any list serves: with MAX_PAGE_SIZE, every OFFSET stays a small, safe integer. */
export const MAX_PAGE = 1_000_000
export const MAX_PAGE_SIZE = 100

/**
 * `page` and `page_size` of every list route (CONTRACT §2 "Lists"), one definition for all. Both
 * are bounded: an unbounded `page` (`?page=99999999999999999999`) made an OFFSET beyond what a
 * number holds exactly and the database refused it with a 500; now it is 400 naming `page`.
 */
export const PageFields = {
  page: Type.Integer({ minimum: 1, maximum: MAX_PAGE, default: 1, description: `from 1, at most ${MAX_PAGE}` }),
  page_size: Type.Integer({ minimum: 1, maximum: MAX_PAGE_SIZE, default: 20 }),
}
