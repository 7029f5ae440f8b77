//! The broadcast channel the [`Bus`](crate::Bus) is built on: one shared ring buffer
//! with a cursor per receiver, generic over the item type.

pub mod ring;
