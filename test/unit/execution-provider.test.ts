import { describe, expect, it } from 'vitest';
import { silentLog } from '../../shared/logging.ts';
import {
  createSessionFactory,
  driverProblem,
  MIN_DRIVER_FOR_CUDA_12,
  parseDriverVersion,
} from '../../stages/transform/execution-provider.ts';

const PROC_VERSION_535 =
  'NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.54.03  Tue Jun  6 22:20:39 UTC 2023\n' +
  'GCC version:  gcc version 7.3.1 20180712 (Red Hat 7.3.1-17) (GCC)\n';

describe('the model server names the GPU driver and what to change', () => {
  it('reads the kernel driver version from /proc/driver/nvidia/version', () => {
    expect(parseDriverVersion(PROC_VERSION_535)).toBe('535.54.03');
    expect(parseDriverVersion('no driver here')).toBeUndefined();
  });

  it('says a driver-470 host cannot run the CUDA 12 image and names the TransformAmiVersion that fixes it', () => {
    const problem = driverProblem({
      providerLibrary: true,
      gpus: 1,
      driverVersion: '470.182.03',
      cudaRuntime: '12.8.1',
    });

    expect(problem).toContain('470.182.03');
    expect(problem).toContain(`older than ${MIN_DRIVER_FOR_CUDA_12}`);
    expect(problem).toContain('al2-ami-sagemaker-batch-gpu-535');
    expect(problem).toContain('transformAmiVersion');
  });

  it('finds no driver problem on a 535 host or where no driver is loaded', () => {
    expect(driverProblem({ providerLibrary: true, gpus: 1, driverVersion: '535.54.03' })).toBeUndefined();
    expect(driverProblem({ providerLibrary: false, gpus: 0 })).toBeUndefined();
  });

  it('logs the provider, driver and CUDA runtime it found when it chooses the provider', () => {
    const lines: Array<{ message: string; fields: Record<string, unknown> | undefined }> = [];
    const log = {
      ...silentLog,
      info: (message: string, fields?: Record<string, unknown>) => lines.push({ message, fields }),
    };

    createSessionFactory({
      preference: 'auto',
      intraOpThreads: 1,
      probe: { providerLibrary: false, gpus: 1, driverVersion: '470.182.03', cudaRuntime: '12.8.1' },
      log,
    });

    const chosen = lines.find((line) => line.message === 'execution provider chosen');
    expect(chosen?.fields).toMatchObject({
      provider: 'cpu',
      nvidiaDriver: '470.182.03',
      cudaRuntime: '12.8.1',
      driverProblem: expect.stringContaining('al2-ami-sagemaker-batch-gpu-535'),
    });
  });
});
