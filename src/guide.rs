// The guide lives in docs/guide.md, so that it reads well on its own; its code blocks are
// compiled and run as doctests of this module.
#![doc = include_str!("../docs/guide.md")]
