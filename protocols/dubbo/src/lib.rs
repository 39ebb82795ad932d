//! dubbo
