//! The read-buffer pool: bounded memory for bytes a connection has read but not yet framed.
//!
//! A connection borrows a [`Buffer`] only while it holds pending bytes (the start of a
//! packet whose end has not arrived, or bytes held back while its reading is paused) and
//! gives it back as soon as they are consumed, so an idle connection holds none.
//!
//! Buffers are fixed-size blocks of `block_size` bytes, allocated lazily and recycled
//! through a free list. A buffer larger than a block (a packet up to `max_packet_size`, or
//! the rest of a read held back by a pause) is one exact allocation, freed on return.
//! Every byte, in use or on the free list, counts against one budget
//! (`max_buffer_memory`); when the budget cannot be met, [`BufferPool::acquire`] and
//! [`BufferPool::grow`] fail and the caller closes that one connection (never aborts).
//!
//! This module must not know about sockets or packets: it hands out bytes.

/// Smallest block size: a block must at least hold a whole fixed header (5 bytes) and
/// should hold the small control packets that make up most traffic.
pub const MIN_BLOCK_SIZE: usize = 64;

/// Bytes held for one connection, borrowed from a [`BufferPool`]. Must be given back with
/// [`BufferPool::release`]; the pool's accounting does not see a dropped buffer.
#[derive(Debug)]
pub struct Buffer {
    /// The storage; its length is the capacity.
    data: Box<[u8]>,
    /// How many bytes at the start of `data` are used.
    len: usize,
}

impl Buffer {
    /// The bytes held.
    pub fn bytes(&self) -> &[u8] {
        &self.data[..self.len]
    }

    /// Number of bytes held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no bytes are held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many bytes the buffer can hold.
    pub fn capacity(&self) -> usize {
        self.data.len()
    }

    /// Appends `bytes`, which must fit in the free capacity (callers grow first).
    pub fn extend(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        assert!(
            end <= self.data.len(),
            "Buffer::extend past capacity: callers grow the buffer first"
        );
        self.data[self.len..end].copy_from_slice(bytes);
        self.len = end;
    }

    /// Drops the first `n` bytes, moving the rest to the front.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        self.data.copy_within(n..self.len, 0);
        self.len -= n;
    }
}

/// The pool every connection's read buffers come from. See the module documentation.
#[derive(Debug)]
pub struct BufferPool {
    /// Size of one block; requests up to this size get a block.
    block_size: usize,
    /// Most bytes the pool may have allocated at once (`max_buffer_memory`).
    budget: usize,
    /// Bytes allocated now: buffers lent out plus blocks on the free list.
    allocated: usize,
    /// Blocks given back, ready for reuse without allocating.
    free: Vec<Box<[u8]>>,
    /// Buffers lent out now.
    lent: usize,
    /// Requests refused because the budget could not be met, since start.
    refused: u32,
}

impl BufferPool {
    /// A pool of `block_size` blocks (at least [`MIN_BLOCK_SIZE`]) within `budget` bytes.
    /// Nothing is allocated until a connection needs it.
    pub fn new(block_size: usize, budget: usize) -> BufferPool {
        BufferPool {
            block_size: block_size.max(MIN_BLOCK_SIZE),
            budget,
            allocated: 0,
            free: Vec::new(),
            lent: 0,
            refused: 0,
        }
    }

    /// Changes the budget (SIGHUP). Buffers already lent out are kept; blocks on the free
    /// list beyond the new budget are freed.
    pub fn set_budget(&mut self, budget: usize) {
        self.budget = budget;
        while self.allocated > self.budget && self.drop_free_block() {}
    }

    /// Bytes allocated now (lent out or on the free list).
    pub fn allocated(&self) -> usize {
        self.allocated
    }

    /// Buffers lent out now.
    pub fn lent(&self) -> usize {
        self.lent
    }

    /// Requests refused for lack of budget since start.
    pub fn refused(&self) -> u32 {
        self.refused
    }

    /// An empty buffer that holds at least `capacity` bytes: a block if it fits in one,
    /// otherwise one exact allocation. `None` when the budget cannot be met.
    pub fn acquire(&mut self, capacity: usize) -> Option<Buffer> {
        let data = if capacity <= self.block_size {
            match self.free.pop() {
                Some(block) => block,
                None => self.allocate(self.block_size)?,
            }
        } else {
            self.allocate(capacity)?
        };
        self.lent += 1;
        Some(Buffer { data, len: 0 })
    }

    /// Makes `buffer` hold at least `capacity` bytes, keeping its contents. `false` (and
    /// `buffer` unchanged) when the budget cannot be met.
    pub fn grow(&mut self, buffer: &mut Buffer, capacity: usize) -> bool {
        if buffer.capacity() >= capacity {
            return true;
        }
        let Some(mut bigger) = self.acquire(capacity) else {
            return false;
        };
        bigger.extend(buffer.bytes());
        let old = std::mem::replace(buffer, bigger);
        self.release(old);
        true
    }

    /// Takes `buffer` back: a block goes to the free list, a larger allocation is freed.
    pub fn release(&mut self, buffer: Buffer) {
        self.lent = self.lent.saturating_sub(1);
        if buffer.data.len() == self.block_size && self.allocated <= self.budget {
            self.free.push(buffer.data);
        } else {
            self.allocated = self.allocated.saturating_sub(buffer.data.len());
        }
    }

    /// Allocates `size` bytes if the budget allows, freeing idle blocks to make room.
    fn allocate(&mut self, size: usize) -> Option<Box<[u8]>> {
        while self.allocated + size > self.budget {
            if !self.drop_free_block() {
                self.refused = self.refused.saturating_add(1);
                return None;
            }
        }
        self.allocated += size;
        Some(vec![0u8; size].into_boxed_slice())
    }

    /// Frees one block from the free list; `false` if the list is empty.
    fn drop_free_block(&mut self) -> bool {
        match self.free.pop() {
            Some(block) => {
                self.allocated = self.allocated.saturating_sub(block.len());
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_recycled_and_counted() {
        let mut pool = BufferPool::new(64, 1024);
        let a = pool.acquire(10).expect("within budget");
        assert_eq!(a.capacity(), 64);
        assert_eq!((pool.allocated(), pool.lent()), (64, 1));
        pool.release(a);
        assert_eq!((pool.allocated(), pool.lent()), (64, 0));
        let b = pool.acquire(64).expect("free block reused");
        assert_eq!(pool.allocated(), 64);
        pool.release(b);
    }

    #[test]
    fn large_buffer_is_exact_and_freed_on_release() {
        let mut pool = BufferPool::new(64, 1024);
        let big = pool.acquire(500).expect("within budget");
        assert_eq!(big.capacity(), 500);
        assert_eq!(pool.allocated(), 500);
        pool.release(big);
        assert_eq!(pool.allocated(), 0);
    }

    #[test]
    fn budget_refuses_and_idle_blocks_make_room() {
        let mut pool = BufferPool::new(64, 256);
        let blocks: Vec<_> = (0..4).map(|_| pool.acquire(1).expect("fits")).collect();
        assert!(pool.acquire(1).is_none());
        assert_eq!(pool.refused(), 1);
        for b in blocks {
            pool.release(b);
        }
        // Four idle blocks fill the budget; a large request frees them to fit.
        let big = pool
            .acquire(200)
            .expect("idle blocks are freed to make room");
        assert!(pool.allocated() <= 256);
        pool.release(big);
    }

    #[test]
    fn grow_keeps_contents() {
        let mut pool = BufferPool::new(64, 1024);
        let mut b = pool.acquire(1).expect("fits");
        b.extend(b"abc");
        assert!(pool.grow(&mut b, 300));
        assert_eq!(b.bytes(), b"abc");
        assert_eq!(
            pool.allocated(),
            64 + 300,
            "the old block stays on the free list"
        );
        assert!(!pool.grow(&mut b, 2000));
        assert_eq!(b.bytes(), b"abc");
        b.consume(1);
        assert_eq!(b.bytes(), b"bc");
        pool.release(b);
        assert_eq!(pool.lent(), 0);
    }

    #[test]
    fn shrinking_budget_frees_idle_blocks() {
        let mut pool = BufferPool::new(64, 1024);
        let a = pool.acquire(1).expect("fits");
        let b = pool.acquire(1).expect("fits");
        pool.release(a);
        pool.release(b);
        pool.set_budget(64);
        assert_eq!(pool.allocated(), 64);
    }
}
