//! A vector that keeps its first `N` items inline and spills the rest to the heap.
//!
//! The decoder keeps two small tables per body (the hessian2 skip stack and the class
//! definitions seen in it). Typical frames fit them in a few entries, and the decode path must
//! not allocate, so they live inline; a frame that needs more (deep or wide input, within the
//! configured limits) pays for one heap allocation.

/// A vector of `Copy` items, the first `N` inline.
#[derive(Clone, Debug)]
pub(crate) struct SpillVec<T: Copy + Default, const N: usize> {
    inline: [T; N],
    len: usize,
    spill: Vec<T>,
}

impl<T: Copy + Default, const N: usize> SpillVec<T, N> {
    /// An empty vector; allocates nothing.
    pub(crate) fn new() -> Self {
        SpillVec { inline: [T::default(); N], len: 0, spill: Vec::new() }
    }

    /// The number of items.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Appends an item; allocates only past `N` items.
    pub(crate) fn push(&mut self, item: T) {
        match self.inline.get_mut(self.len) {
            Some(slot) => *slot = item,
            None => self.spill.push(item),
        }
        self.len += 1;
    }

    /// Removes and returns the last item.
    pub(crate) fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        if self.len >= N {
            self.spill.pop()
        } else {
            self.inline.get(self.len).copied()
        }
    }

    /// The item at `index`.
    pub(crate) fn get(&self, index: usize) -> Option<T> {
        if index >= self.len {
            None
        } else if index < N {
            self.inline.get(index).copied()
        } else {
            self.spill.get(index - N).copied()
        }
    }

    /// The last item, mutably.
    pub(crate) fn last_mut(&mut self) -> Option<&mut T> {
        let index = self.len.checked_sub(1)?;
        if index < N {
            self.inline.get_mut(index)
        } else {
            self.spill.get_mut(index - N)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SpillVec;

    #[test]
    fn push_pop_across_the_inline_boundary() {
        let mut v: SpillVec<u32, 2> = SpillVec::new();
        for i in 0..5 {
            v.push(i);
        }
        assert_eq!(v.len(), 5);
        let items: Vec<_> = (0..v.len()).filter_map(|i| v.get(i)).collect();
        assert_eq!(items, vec![0, 1, 2, 3, 4]);
        assert_eq!(v.get(1), Some(1));
        assert_eq!(v.get(3), Some(3));
        assert_eq!(v.get(5), None);
        if let Some(last) = v.last_mut() {
            *last = 40;
        }
        assert_eq!(v.pop(), Some(40));
        assert_eq!(v.pop(), Some(3));
        assert_eq!(v.pop(), Some(2));
        if let Some(last) = v.last_mut() {
            *last = 10;
        }
        assert_eq!(v.pop(), Some(10));
        assert_eq!(v.pop(), Some(0));
        assert_eq!(v.pop(), None);
        assert!(v.last_mut().is_none());
    }
}
