import { QdrantStore } from '../src/index.ts';
import { CONTRACT_DIM, vectorStoreContract } from './contract.ts';

// Runs whenever QDRANT_URL is set (e.g. `docker run -p 6333:6333 qdrant/qdrant`).
const url = process.env['QDRANT_URL'];
if (!url) console.warn('\n!!! QDRANT_URL not set: the VectorStore contract runs on EmbeddedStore only !!!\n');

vectorStoreContract(
  'QdrantStore',
  async () => {
    const store = new QdrantStore({
      url: url as string,
      space: `d${CONTRACT_DIM}`,
      dim: CONTRACT_DIM,
      prefix: `tw_test_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`,
    });
    return { store, cleanup: () => store.drop() };
  },
  { skip: url ? false : 'QDRANT_URL not set' },
);
