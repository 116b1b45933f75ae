// The local EVM node for the settlement tests (chain id 31337, offline).
// Reverted transactions are mined and reported in receipts, not thrown at the sender, as on a
// real network; mining is automatic unless a test turns it off (evm_setAutomine).
module.exports = {
  networks: {
    hardhat: {
      chainId: 31337,
      throwOnTransactionFailures: false,
      throwOnCallFailures: false,
      loggingEnabled: false,
    },
  },
};
